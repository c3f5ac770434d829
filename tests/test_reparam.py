"""Re-parameterisation is exact: deploy logits equal train-form inference logits."""

import keras
import numpy as np
import pytest

import keras_airn as ka
from keras_airn.network.deploy import transfer_weights
from keras_airn.network.layers import MultiScaleDepthwiseMixer
from tests.helpers import TINY, max_relative_error, random_log_mel, randomize_batchnorm

# The ablations change the block, not the widths: one block per stage at small widths tests
# their re-parameterisation as well as the full presets do, in a fraction of the time. The
# presets themselves are re-parameterised by tests/test_networks.py.
SMALL = {k: v for k, v in TINY.items() if k != "expansion"}
CASES = {
    "kernels_3": ("b0", {"kernel_sizes": ka.ABLATION_KERNEL_SETS["3"], **SMALL}),
    "kernels_21+3": ("b0", {"kernel_sizes": ka.ABLATION_KERNEL_SETS["21+3"], **SMALL}),
    "kernels_31+21+11+3": ("b0", {"kernel_sizes": ka.ABLATION_KERNEL_SETS["31+21+11+3"], **SMALL}),
    "no_identity": ("b0", {"use_identity": False, **SMALL}),
    "no_expansion": ("b0", {"expansion": 0, **SMALL}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_deploy_logits_equal_train_logits(case):
    preset, overrides = CASES[case]
    model = randomize_batchnorm(ka.create_model(preset, num_classes=17, **overrides), seed=3)
    before = [w.numpy().copy() for w in model.weights]
    x = random_log_mel(2, 64, seed=1)
    expected = model(x, training=False).numpy()

    for fold_identity in (False, True):
        deploy = ka.reparameterize(model, fold_identity=fold_identity)
        assert deploy.deploy and deploy.fold_batchnorm
        assert deploy.fold_identity == (fold_identity and model.use_identity)
        assert not any(isinstance(l, keras.layers.BatchNormalization) for l in deploy.layers)
        mixers = [l for l in deploy.layers if isinstance(l, MultiScaleDepthwiseMixer)]
        assert mixers and all(len(m.weights) == 2 for m in mixers)  # one kernel, one bias
        assert max_relative_error(deploy(x, training=False).numpy(), expected) < 1e-5

    # The release's structure: only the mixers merged, BatchNorms kept.
    release = ka.reparameterize(model, fold_identity=False, fold_batchnorm=False)
    assert release.form == "release_deploy"
    assert max_relative_error(release(x, training=False).numpy(), expected) < 1e-5
    # And folding that further gives the same function again.
    folded = ka.reparameterize(release)
    assert max_relative_error(folded(x, training=False).numpy(), expected) < 1e-5

    after = [w.numpy() for w in model.weights]
    assert all(np.array_equal(a, b) for a, b in zip(before, after)), "original model was modified"


def test_fold_identity_removes_the_add_inside_mixers():
    model = randomize_batchnorm(ka.create_model("b0", num_classes=5))
    folded = ka.reparameterize(model, fold_identity=True)
    kept = ka.reparameterize(model, fold_identity=False)
    name = "s3_res1_a"
    k_folded = folded.get_layer(name).merged.kernel.numpy()
    k_kept = kept.get_layer(name).merged.kernel.numpy()
    centre = k_folded.shape[0] // 2
    np.testing.assert_allclose(k_folded[centre, 0, :, 0] - k_kept[centre, 0, :, 0], 1.0, atol=1e-6)
    np.testing.assert_array_equal(np.delete(k_folded, centre, axis=0), np.delete(k_kept, centre, axis=0))


def test_deploy_cannot_go_back_to_train():
    deploy = ka.reparameterize(ka.create_model("b0", num_classes=3))
    train = ka.create_model("b0", num_classes=3)
    with pytest.raises(ValueError, match="back into the train form"):
        transfer_weights(deploy, train)
    with pytest.raises(TypeError, match="AudioRepInceptionNeXt"):
        ka.reparameterize(keras.Sequential([keras.layers.Dense(2)]))
