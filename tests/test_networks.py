"""One harness over every registered network (keras-hub's `run_backbone_test`, timm's
`test_models.py`): build, call, serialisation round trip, re-parameterisation where the network
has a deploy form, and TFLite conversion run by LiteRT, at a small input so that it is fast."""

import keras
import numpy as np
import pytest

from keras_airn.network.deploy import reparameterizable, reparameterize
from keras_airn.network.registry import AIRN, create_network, list_networks, network_info
from tests.helpers import max_relative_error, random_log_mel, randomize_batchnorm

CLASSES = 7
# (frames, mel bins): a whole multiple of every network's stride; bcresnet8 at 80 bins takes
# SubSpectralNorm's sub-band path (40 and 20 bins).
SIZE = {"bcresnet8": (32, 80)}
SMALL_INPUT = (64, 64)
# int8 conversion of the four baselines over 20 M parameters takes 15-35 s each here; their int8
# artifacts are built and run by `make baselines` instead, to keep the suite within its budget.
INT8_TESTED = ("bcresnet8", "bn_inception_v1", "efficientat_mn10", "yamnet")
# B1's deploy form is converted at the paper's full input by tests/test_convert_tflite.py.
TFLITE_ELSEWHERE = ("b1",)


def _tflite_logits(model, inputs, precision, tmp_path):
    """Logits of `model` converted at `precision` and run by LiteRT, and of the graph it froze."""
    import tensorflow as tf

    from keras_airn.export.tflite import convert, run_tflite

    function = tf.function(lambda x: model(x, training=False),
                           input_signature=[tf.TensorSpec([1, *inputs.shape[1:]], tf.float32)])
    path = tmp_path / f"{model.name}_{precision}.tflite"
    path.write_bytes(convert(function, precision, representative=[x[None] for x in inputs]))
    expected = np.concatenate([function(x[None]).numpy() for x in inputs])  # the traced graph convert() froze
    return run_tflite(str(path), inputs), expected


def _round_trip(model, inputs, tmp_path):
    """A network with this project's layers through a `.keras` file (they must deserialise by
    their registered names), one of stock Keras layers through its config (a file of those is
    Keras's to test): same class, config and outputs."""
    if any(type(layer).__module__.startswith("keras_airn") for layer in (model, *model.layers)):
        path = tmp_path / f"{model.name}_{getattr(model, 'form', 'model')}.keras"
        model.save(path)
        loaded = keras.saving.load_model(path)
    else:
        loaded = type(model).from_config(model.get_config())
        loaded.set_weights(model.get_weights())
    assert type(loaded) is type(model)
    if hasattr(model, "form"):  # a subclassed network: its own config
        assert loaded.form == model.form and loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(loaded(inputs, training=False), model(inputs, training=False))


def test_every_network_is_listed_once_with_its_facts():
    names = list_networks()
    assert len(names) == len(set(names)) == 11 and names[:3] == ["b0", "b1", "b1_2d"]
    assert [n for n in names if network_info(n).reparameterizable] == list_networks(AIRN)
    with pytest.raises(ValueError, match="Unknown network 'vgg'; choose one of b0, b1, b1_2d, bcresnet8"):
        create_network("vgg")


@pytest.mark.parametrize("name", list_networks())
def test_network(name, tmp_path):
    """Build, call, round trip, re-parameterise (deploy logits = train logits), TFLite fp32 within
    1e-4 of Keras (and int8 runs for the smaller baselines)."""
    info = network_info(name)
    frames, bins = SIZE.get(name, SMALL_INPUT)
    model = randomize_batchnorm(create_network(name, num_classes=CLASSES, num_frames=frames, num_mel_bins=bins),
                                seed=1)
    inputs = random_log_mel(2, frames, bins, seed=1)
    expected = model(inputs, training=False).numpy()
    assert expected.shape == (2, CLASSES) and np.isfinite(expected).all()
    _round_trip(model, inputs, tmp_path)
    assert reparameterizable(model) == info.reparameterizable
    if info.reparameterizable:
        release = reparameterize(model, fold_identity=False, fold_batchnorm=False)
        assert release.form == "release_deploy"
        assert max_relative_error(release(inputs, training=False).numpy(), expected) < 1e-5
        _round_trip(release, inputs, tmp_path)
        model = reparameterize(release)  # folding that further gives the same function again
        assert model.form == "folded_identity"
        assert max_relative_error(model(inputs, training=False).numpy(), expected) < 1e-5
    else:
        with pytest.raises(TypeError, match="deploy form"):
            reparameterize(model)
    precisions = () if name in TFLITE_ELSEWHERE else ("fp32", "int8") if name in INT8_TESTED else ("fp32",)
    for precision in precisions:
        logits, traced = _tflite_logits(model, inputs, precision, tmp_path)
        assert logits.shape == (2, CLASSES) and np.isfinite(logits).all()
        if precision == "fp32":
            assert max_relative_error(logits, traced) < 1e-4
