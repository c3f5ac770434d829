"""MultiScaleDepthwiseMixer: merge arithmetic, configuration, validation."""

import keras
import numpy as np
import pytest

from keras_airn.network.layers import MultiScaleDepthwiseMixer, fold_batchnorm
from tests.helpers import max_relative_error, randomize_batchnorm


def _model(layer, shape):
    inputs = keras.Input(shape)
    return keras.Model(inputs, layer(inputs))


@pytest.mark.parametrize("axis,kernels", [("time", (21, 11, 3)), ("freq", (11, 3)), ("2d", (5, 3))])
@pytest.mark.parametrize("fold_identity", [False, True])
def test_merged_mixer_equals_branches(axis, kernels, fold_identity):
    x = np.random.default_rng(0).normal(size=(2, 24, 20, 6)).astype(np.float32)
    train = randomize_batchnorm(_model(MultiScaleDepthwiseMixer(kernels, axis=axis, name="m"), x.shape[1:]))
    for w in train.get_layer("m").branch_convs:
        w.kernel.assign(np.random.default_rng(1).normal(size=w.kernel.shape).astype(np.float32))
    deploy = _model(
        MultiScaleDepthwiseMixer(kernels, axis=axis, deploy=True, fold_identity=fold_identity, name="m"),
        x.shape[1:],
    )
    kernel, bias = train.get_layer("m").merged_weights()
    deploy.get_layer("m").set_merged_weights(kernel, bias, identity_in_kernel=False)
    assert kernel.shape[:2] == {"time": (21, 1), "freq": (1, 11), "2d": (5, 5)}[axis]
    assert max_relative_error(deploy(x), train(x, training=False)) < 1e-5


def test_fold_batchnorm_matches_batchnorm_arithmetic():
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(1, 1, 3, 4))
    gamma, beta, mean, var = (rng.uniform(0.5, 1.5, 4) for _ in range(4))
    folded_kernel, folded_bias = fold_batchnorm(kernel, gamma, beta, mean, var, 1e-5, out_axis=3)
    x = rng.normal(size=3)
    conv = x @ kernel[0, 0]
    expected = gamma * (conv - mean) / np.sqrt(var + 1e-5) + beta
    np.testing.assert_allclose(x @ folded_kernel[0, 0] + folded_bias, expected, rtol=1e-5)


def test_config_round_trip_and_validation():
    layer = MultiScaleDepthwiseMixer((3, 21, 11), axis="freq", use_identity=False, name="x")
    assert layer.kernel_sizes == (21, 11, 3)
    clone = MultiScaleDepthwiseMixer.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    with pytest.raises(ValueError, match="odd"):
        MultiScaleDepthwiseMixer((4,))
    with pytest.raises(ValueError, match="axis"):
        MultiScaleDepthwiseMixer((3,), axis="diagonal")
    with pytest.raises(ValueError, match="fold_identity"):
        MultiScaleDepthwiseMixer((3,), fold_identity=True)


@pytest.mark.parametrize("deploy", [False, True])
def test_time_as_rows_gives_the_same_outputs_and_weights(deploy):
    """The transposed-layout time mixer (what TFLite export uses) is the same function."""
    import keras_airn as ka

    model = randomize_batchnorm(ka.create_model("b0", num_classes=4, stem_width=8, stage_widths=(8, 16, 16, 16),
                                                depths=(1, 1, 1, 1), expansion=2))
    model = ka.reparameterize(model) if deploy else model
    rows = model.with_options(time_as_rows=True)
    assert rows.get_layer("s2_res0_a").time_as_rows and not model.get_layer("s2_res0_a").time_as_rows
    x = np.random.default_rng(2).normal(-4, 2, size=(2, 96, 128, 1)).astype(np.float32)
    assert max_relative_error(rows(x, training=False), model(x, training=False)) < 1e-5
    if not deploy:  # batch statistics too: BatchNorm reduces over the same axes in either layout
        as_rows, plain = rows.get_layer("s2_res0_a"), model.get_layer("s2_res0_a")
        h = np.random.default_rng(3).normal(size=(2, 24, 32, 8)).astype(np.float32)
        assert max_relative_error(as_rows(h, training=True), plain(h, training=True)) < 1e-5
    assert [w.shape for w in rows.weights] == [w.shape for w in model.weights]
