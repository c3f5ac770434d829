"""`convert.onnx`: tf2onnx export with a dynamic batch axis, checked in onnxruntime."""

import pytest

import keras_airn as ka
from keras_airn.export.common import ConversionError
from keras_airn.export.onnx import export_onnx, run_onnx
from keras_airn.features import FrontEnd
from tests.helpers import max_relative_error, random_log_mel, randomize_batchnorm

FRONT_END = FrontEnd(clip_seconds=1.28)


@pytest.mark.parametrize("opset", [13, 17])
def test_onnx_matches_keras_with_dynamic_batch(tmp_path, opset):
    train = randomize_batchnorm(ka.create_model("b0", num_classes=5, kernel_sizes=(21, 11, 3)), seed=2)
    path = str(tmp_path / "model.keras")
    train.save(path)
    report = export_onnx(path, str(tmp_path / "out"), opset=opset, front_end=FRONT_END)
    entry = report["onnx"]
    assert entry["opset"] == opset and entry["max_rel_logit_error"] <= 1e-4
    assert report["form"] == "folded_identity" and "BatchNormalization" not in entry["ops"]
    x = random_log_mel(3, 128, seed=4)
    logits = run_onnx(str(tmp_path / "out" / entry["file"]), x)
    assert logits.shape == (3, 5)
    assert max_relative_error(logits, train.predict(x, verbose=0)) <= 1e-4


def test_onnx_bad_input(tmp_path):
    with pytest.raises(ConversionError, match="No model file"):
        export_onnx(str(tmp_path / "absent.keras"), str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()
