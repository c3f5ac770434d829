"""`load_deploy` and input checks (every network's `.keras` round trip: tests/test_networks.py)."""

import numpy as np
import pytest

import keras
import keras_airn as ka
from tests.helpers import max_relative_error, random_log_mel, randomize_batchnorm


@pytest.fixture(scope="module")
def trained_b0():
    return randomize_batchnorm(ka.create_model("b0", num_classes=6, kernel_sizes=(21, 3)), seed=5)


def test_load_deploy_reparameterizes_train_files(tmp_path, trained_b0):
    path = str(tmp_path / "train.keras")
    trained_b0.save(path)
    deploy = ka.load_deploy(path)
    assert deploy.form == "folded_identity"
    x = random_log_mel(1, 64)
    assert max_relative_error(deploy.predict(x, verbose=0), trained_b0.predict(x, verbose=0)) < 1e-5
    deploy_path = str(tmp_path / "deploy.keras")
    deploy.save(deploy_path)
    assert ka.load_deploy(deploy_path).form == "folded_identity"


def test_load_deploy_rejects_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="No model file"):
        ka.load_deploy(str(tmp_path / "absent.keras"))
    corrupt = tmp_path / "corrupt.keras"
    corrupt.write_bytes(b"not a zip archive")
    with pytest.raises(ValueError, match="not a readable .keras model"):
        ka.load_deploy(str(corrupt))
    other = tmp_path / "weights.h5"
    other.write_bytes(b"x")
    with pytest.raises(ValueError, match="expected a .keras file"):
        ka.load_deploy(str(other))
    plain = tmp_path / "plain.keras"
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]).save(str(plain))
    with pytest.raises(ValueError, match="not an AudioRepInceptionNeXt"):
        ka.load_deploy(str(plain))


def test_input_validation_names_the_problem():
    model = ka.create_model("b0", num_classes=4)
    with pytest.raises(ValueError, match="rank 4"):
        model(np.zeros((64, 128, 1), np.float32))
    with pytest.raises(ValueError, match="128 mel bins; the input has 64"):
        model(np.zeros((1, 64, 64, 1), np.float32))
    with pytest.raises(ValueError, match="at least 32 frames"):
        model(np.zeros((1, 16, 128, 1), np.float32))
    with pytest.raises(ValueError, match="Unknown preset"):
        ka.create_model("b7")
