"""Parameter and MAC counts against the release's figures (docs/reference.md, section 3)."""

import pytest

import keras_airn as ka

# (train params, release-deploy params, train MACs, release-deploy MACs) at 512 x 128, 309 classes.
# B1: the release's counted figures. B1 (2D): the paper's 13.70 M / 13.19 M params.
# B0: Table I as counted (3.09 M / 3.02 M, 0.708 / 0.672 G; docs/reference.md section 3), not the paper's 2.18 M.
REFERENCE = {
    "b1": (11_834_869, 11_691_381, 2.625e9, 2.553e9),
    "b0": (3.09e6, 3.02e6, 0.708e9, 0.672e9),
    "b1_2d": (13.70e6, 13.19e6, None, None),
}


@pytest.mark.parametrize("preset", sorted(REFERENCE))
def test_counts_match_reference(preset):
    params_train, params_deploy, macs_train, macs_deploy = REFERENCE[preset]
    train = ka.create_model(preset, num_classes=309)
    release = ka.reparameterize(train, fold_identity=False, fold_batchnorm=False)
    got_params_train, got_macs_train = ka.profile(train, (512, 128))
    got_params_deploy, got_macs_deploy = ka.profile(release, (512, 128))
    if preset == "b1":
        assert got_params_train == params_train
        assert got_params_deploy == params_deploy
    else:  # reference given to 3 significant figures
        assert got_params_train == pytest.approx(params_train, rel=2e-3)
        assert got_params_deploy == pytest.approx(params_deploy, rel=2e-3)
    if macs_train:
        assert got_macs_train == pytest.approx(macs_train, rel=0.01)
        assert got_macs_deploy == pytest.approx(macs_deploy, rel=0.01)


def test_folding_removes_parameters_and_macs():
    train = ka.create_model("b0", num_classes=10)
    release = ka.reparameterize(train, fold_identity=False, fold_batchnorm=False)
    folded = ka.reparameterize(train)
    counts = [ka.profile(m, (256, 128)) for m in (train, release, folded)]
    assert counts[0][0] > counts[1][0] > counts[2][0]
    assert counts[0][1] > counts[1][1] > counts[2][1]
    # profile accepts the batch-and-channel shape too, and the T dimension scales MACs linearly.
    assert ka.profile(folded, (1, 512, 128, 1))[1] == pytest.approx(2 * counts[2][1], rel=0.01)
