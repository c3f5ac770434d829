"""`convert.onnx`: tf2onnx export with a dynamic batch axis, checked in onnxruntime."""

import keras
import pytest

import keras_airn as ka
from keras_airn.export.common import ConversionError, report_entry
from keras_airn.export.onnx import export_onnx, run_onnx
from keras_airn.data.features import FrontEnd
from tests.helpers import max_relative_error, random_log_mel, randomize_batchnorm

FRONT_END = FrontEnd(clip_seconds=1.28)


@pytest.mark.parametrize("opset", [13, 17])
def test_onnx_matches_keras_with_dynamic_batch(tmp_path, opset):
    from tests.helpers import TINY

    train = randomize_batchnorm(ka.create_model("b0", num_classes=5, kernel_sizes=(21, 11, 3), **TINY), seed=2)
    path = str(tmp_path / "model.keras")
    train.save(path)
    report = export_onnx(path, str(tmp_path / "out"), opset=opset, front_end=FRONT_END)
    entry = report["artifacts"]["fp32"]
    assert report["opset"] == opset and entry["max_rel_logit_error"] <= 1e-4
    assert report["form"] == "folded_identity" and "BatchNormalization" not in entry["ops"]
    x = random_log_mel(3, 128, seed=4)
    logits = run_onnx(str(tmp_path / "out" / entry["file"]), x)
    assert logits.shape == (3, 5)
    assert max_relative_error(logits, train.predict(x, verbose=0)) <= 1e-4


def test_onnx_bad_input(tmp_path):
    with pytest.raises(ConversionError, match="No model file"):
        export_onnx(str(tmp_path / "absent.keras"), str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_onnx_int8_is_calibrated_on_clips_and_reported(tmp_path):
    import onnx

    from keras_airn.data.datasets import read_vggsound
    from tests.helpers import TINY
    from train.demo_data import make_demo_set

    csv_path, audio_dir, labels = make_demo_set(str(tmp_path / "data"), clips_per_class=2, seconds=1.5, seed=3,
                                                speech=False)
    split, _ = read_vggsound(csv_path, audio_dir, "train", labels)
    keras.utils.set_random_seed(5)  # the weights, not the worker's earlier tests, decide how near its logits tie
    model = randomize_batchnorm(ka.create_model("b0", num_classes=len(labels), **TINY), seed=5)
    with pytest.raises(ConversionError, match="int8 needs representative data"):
        export_onnx(model, str(tmp_path / "refused"), front_end=FRONT_END, precisions=["fp32", "int8"])
    assert not (tmp_path / "refused").exists()
    report = export_onnx(model, str(tmp_path / "out"), front_end=FRONT_END, examples=split.examples,
                         label_names=labels, precisions=["fp32", "int8"], num_eval=100)
    entry = report["artifacts"]["int8"]
    half = len(split.examples) // 2  # the same split as convert.tflite: first half calibrates
    assert entry["calibration_clips"] == half and report["eval_clips"] == len(split.examples) - half
    assert entry["scheme"] == "u8s8_reduced" and "calibrated on" in entry["warning"]
    nodes = onnx.load(str(tmp_path / "out" / entry["file"])).graph.node
    assert sum(node.op_type == "QuantizeLinear" for node in nodes) > 10
    # The head stays float, as in the TFLite int8: the logits' MatMul reads float, not a DequantizeLinear.
    producers = {output: node.op_type for node in nodes for output in node.output}
    head = [node for node in nodes if "head_projection" in node.name and node.op_type == "MatMul"]
    assert entry["float_head"] and head and producers.get(head[0].input[1]) != "DequantizeLinear"
    # int8 logits follow the float model's (a random tiny network: rounding, not training, decides).
    assert entry["max_rel_logit_error"] < 0.15 and entry["top1_agreement"] >= 0.5
    assert {"top1_accuracy", "reference_top1_accuracy"} <= entry.keys()
    # Measured, as the TFLite int8, on windows of exact zeros: silence, MediaPipe's zero-padded last window.
    clips = report["eval_clips"]
    assert entry["silence_windows"] == clips + 1 and entry["padded_window_windows"] == clips
    assert 0 <= entry["silence_top1_agreement"] <= 1 and 0 <= entry["padded_window_top1_agreement"] <= 1
    # One report schema with convert.tflite's (keras_airn.export.common); edge tools find each entry.
    assert report["format"] == "onnx" and report["input"] == "spectrogram" and set(report["artifacts"]) == {"fp32", "int8"}
    assert report_entry(str(tmp_path / "out" / entry["file"])) == (report, entry)
    x = random_log_mel(2, 128, seed=6)
    assert run_onnx(str(tmp_path / "out" / entry["file"]), x).shape == (2, len(labels))
