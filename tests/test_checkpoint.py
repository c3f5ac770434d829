"""Official checkpoints: parity with PyTorch, export, and clear errors for bad files."""

import numpy as np
import pytest
import torch

import keras_airn as ka
from keras_airn.network.checkpoint import CheckpointMismatchError
from tests.helpers import max_relative_error
from tests.torch_reference import ReferenceNet, randomize

B0 = dict(stem=32, widths=(32, 64, 128, 256))


def _reference_logits(net, x_nchw):
    with torch.no_grad():
        return net(torch.from_numpy(x_nchw)).numpy()


def _save(net, path):
    torch.save({"model_state": net.state_dict(), "epoch": 50, "cfg": "..."}, path)
    return str(path)


@pytest.fixture(scope="module")
def inputs():
    # PyTorch layout N x 1 x T x F; T = 96 is not a multiple of 32 (stride-2 padding matters).
    return np.random.default_rng(0).normal(-4.0, 2.0, size=(2, 1, 96, 128)).astype(np.float32)


@pytest.mark.parametrize(
    "kind,net_kwargs",
    [
        ("train", dict(B0)),
        ("release_deploy", dict(B0, deploy=True)),
        ("train_2d", dict(B0, mixing="2d", depths=(1, 1, 2, 1))),
        ("train_b1", dict(depths=(1, 2, 1, 1))),
    ],
)
def test_logits_match_pytorch(tmp_path, inputs, kind, net_kwargs):
    net = randomize(ReferenceNet(num_classes=13, **net_kwargs), seed=7)
    path = _save(net, tmp_path / "ckpt.pyth")
    model = ka.load_official_checkpoint(path)
    assert model.form == ("release_deploy" if "deploy" in kind else "train")
    assert model.num_classes == 13 and model.mixing == net_kwargs.get("mixing", "separable")
    expected = _reference_logits(net, inputs)
    got = model.predict(inputs.transpose(0, 2, 3, 1), verbose=0)
    assert max_relative_error(got, expected) < 1e-4
    deploy = ka.load_official_checkpoint(path, deploy=True)
    assert deploy.form == "folded_identity"
    assert max_relative_error(deploy.predict(inputs.transpose(0, 2, 3, 1), verbose=0), expected) < 1e-4


def test_saved_checkpoint_loads_into_pytorch(tmp_path, inputs):
    net = randomize(ReferenceNet(num_classes=5, **B0), seed=2)
    model = ka.load_official_checkpoint(_save(net, tmp_path / "a.pyth"))
    expected = _reference_logits(net, inputs)
    # Train form back to the same layout, and a deploy form (identity folded) to the release's.
    ka.save_official_checkpoint(model, str(tmp_path / "train.pyth"))
    clone = ReferenceNet(num_classes=5, **B0).eval()
    clone.load_state_dict(torch.load(tmp_path / "train.pyth")["model_state"], strict=True)
    assert max_relative_error(_reference_logits(clone, inputs), expected) < 1e-6
    release = ka.reparameterize(model, fold_identity=True, fold_batchnorm=False)
    ka.save_official_checkpoint(release, str(tmp_path / "deploy.pyth"))
    deploy_net = ReferenceNet(num_classes=5, deploy=True, **B0).eval()
    deploy_net.load_state_dict(torch.load(tmp_path / "deploy.pyth")["model_state"], strict=True)
    assert max_relative_error(_reference_logits(deploy_net, inputs), expected) < 1e-4
    with pytest.raises(ValueError, match="folded BatchNorm has no official"):
        ka.save_official_checkpoint(ka.reparameterize(model), str(tmp_path / "x.pyth"))


def test_mismatched_checkpoints_name_the_keys(tmp_path):
    state = randomize(ReferenceNet(num_classes=4, **B0)).state_dict()
    missing = dict(state)
    del missing["s3.pathway0_res1.branch2.b_bn_small.running_var"]
    missing["s3.pathway0_res1.branch2.extra.weight"] = torch.zeros(3)
    torch.save({"model_state": missing}, tmp_path / "m.pyth")
    with pytest.raises(CheckpointMismatchError) as error:
        ka.load_official_checkpoint(str(tmp_path / "m.pyth"))
    message = str(error.value)
    assert "missing keys: s3.pathway0_res1.branch2.b_bn_small.running_var" in message
    assert "unexpected keys: s3.pathway0_res1.branch2.extra.weight" in message

    misshaped = dict(state)
    misshaped["s4.pathway0_res2.branch2.c.weight"] = torch.zeros(256, 128, 3, 3)
    torch.save({"model_state": misshaped}, tmp_path / "s.pyth")
    with pytest.raises(CheckpointMismatchError, match=r"mis-shaped: s4.pathway0_res2.branch2.c.weight: "
                       r"checkpoint \(256, 128, 3, 3\), model \(512, 128, 1, 1\)"):
        ka.load_official_checkpoint(str(tmp_path / "s.pyth"))


def test_bad_files_raise_clear_errors(tmp_path):
    net = randomize(ReferenceNet(num_classes=4, **B0))
    good = _save(net, tmp_path / "good.pyth")
    data = open(good, "rb").read()
    (tmp_path / "truncated.pyth").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a readable PyTorch checkpoint"):
        ka.load_official_checkpoint(str(tmp_path / "truncated.pyth"))
    (tmp_path / "text.pyth").write_text("hello, I am not a checkpoint")
    with pytest.raises(ValueError, match="not a readable PyTorch checkpoint"):
        ka.load_official_checkpoint(str(tmp_path / "text.pyth"))
    torch.save({"model_state": {"fc.weight": torch.zeros(2, 2)}}, tmp_path / "other.pyth")
    with pytest.raises(CheckpointMismatchError, match="Not an AudioRepInceptionNeXt checkpoint"):
        ka.load_official_checkpoint(str(tmp_path / "other.pyth"))
    torch.save([1, 2, 3], tmp_path / "list.pyth")
    with pytest.raises(ValueError, match="not an official checkpoint"):
        ka.load_official_checkpoint(str(tmp_path / "list.pyth"))
    with pytest.raises(FileNotFoundError):
        ka.load_official_checkpoint(str(tmp_path / "absent.pyth"))
    # A loaded checkpoint rejects input with the wrong number of mel bins.
    model = ka.load_official_checkpoint(good)
    with pytest.raises(ValueError, match="128 mel bins; the input has 64"):
        model.predict(np.zeros((1, 96, 64, 1), np.float32), verbose=0)
    assert ka.load_deploy(good).form == "folded_identity"
