"""`convert.openvino`: OpenVINO IR of the deploy model, checked on OpenVINO's CPU plugin, and the
runtime tools (WindowScorer, edge.classify, edge.benchmark, --recommend) on it."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_airn as ka
from keras_airn.inference.artifacts import OPENVINO_PRECISION_KEY, ArtifactError, openvino_core, openvino_model
from keras_airn.export.common import ConversionError, report_entry
from keras_airn.export.openvino import export_openvino, run_openvino
from keras_airn.export.tflite import export
from keras_airn.data.features import FrontEnd
from keras_airn.inference.runtime import Window, WindowScorer, summarize
from tests.helpers import TINY, max_relative_error, random_log_mel, randomize_batchnorm, tiny_model_folder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FRONT_END = FrontEnd(clip_seconds=1.28)
HAS_BF16 = "BF16" in openvino_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny random model with its front-end and labels beside it, a 3.3 s recording, and the
    model's spectrogram-input fp32 IR ("ir": the folder, "report")."""
    folder = tiny_model_folder(tmp_path_factory.mktemp("openvino"), FRONT_END)
    ir = folder["root"] / "ir"
    classifier = ka.AudioClassifier(folder["model"], FRONT_END, ["a", "b", "c", "d"])
    report = classifier.export(str(ir), format="openvino", num_eval=2)  # the task's way to convert.openvino
    return {**folder, "ir": ir, "report": report}


def ir_path(out_dir, report, precision="fp32"):
    return str(out_dir / report["artifacts"][precision]["file"])


@pytest.mark.parametrize("waveform", [False, True], ids=["spectrogram", "waveform"])
def test_fp32_ir_equals_keras_and_the_tflite_artifact(tiny, tmp_path, waveform):
    from keras_airn.export.tflite import classify_function

    out, report = tiny["ir"], tiny["report"]
    if waveform:
        out = tmp_path / "ir"
        report = export_openvino(tiny["keras"], str(out), waveform=True, front_end=FRONT_END, num_eval=2,
                                 label_names=["a", "b", "c", "d"])
    entry = report["artifacts"]["fp32"]
    assert report["format"] == "openvino" and report["input"] == ("waveform" if waveform else "spectrogram")
    assert entry["max_rel_logit_error"] <= 1e-4 and entry["within_bound"]
    # f32 asked for in the IR and what OpenVINO ran (its default on a bf16 CPU would be bf16).
    model = openvino_core().read_model(ir_path(out, report))
    assert model.get_rt_info(OPENVINO_PRECISION_KEY).astype(str) == "f32" == entry["ran_as"]
    assert sorted(os.listdir(out)) == sorted([entry["file"], entry["weights"], "front_end.json", "labels.json",
                                              "report_openvino.json"])
    assert report_entry(ir_path(out, report)) == (report, entry)
    # Fresh inputs, not the report's: the IR computes what the Keras model (and its TF function) does.
    keras_model = ka.reparameterize(tiny["model"])
    if waveform:
        inputs = np.random.default_rng(5).uniform(-0.3, 0.3, (3, FRONT_END.clip_size - 1)).astype(np.float32)
        function = classify_function(keras_model, FRONT_END, True)
        expected = np.concatenate([function(x[None]).numpy() for x in inputs])
    else:
        inputs = random_log_mel(3, FRONT_END.num_frames, seed=4)
        expected = tiny["model"].predict(inputs, verbose=0)
    logits = run_openvino(ir_path(out, report), inputs)
    assert logits.shape == (3, 4) and max_relative_error(logits, expected) <= 1e-4
    # The runtime scores a recording window by window as with the fp32 .tflite of the same model.
    tflite = export(tiny["keras"], str(tmp_path / "tflite"), ["fp32"], waveform=waveform, front_end=FRONT_END,
                    num_eval=2)
    scores = {}
    for path in (ir_path(out, report), ir_path(tmp_path / "tflite", tflite)):
        scorer = WindowScorer.from_file(path)
        assert scorer.waveform_input == waveform and scorer.num_classes == 4
        scores[path] = np.stack([w.scores for w in scorer.classify_file(tiny["audio"], hop_seconds=0.5)])
    ir_scores, tflite_scores = scores.values()
    assert ir_scores.shape == (6, 4)
    np.testing.assert_allclose(ir_scores, tflite_scores, atol=1e-5 if not waveform else 1e-4)
    if waveform:  # edge.classify on the IR prints the labels and scores the .tflite gives
        result = subprocess.run([sys.executable, "-m", "edge.classify", f"--model={ir_path(out, report)}",
                                 f"--audio={tiny['audio']}", "--hop_seconds=0.5", "--top_k=4", "--json"],
                                cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        overall = json.loads(result.stdout)[tiny["audio"]]["overall"]
        expected = summarize([Window(0, 0, s) for s in tflite_scores], ["a", "b", "c", "d"], 4)["overall"]
        assert [label for label, _ in overall] == [label for label, _ in expected]
        np.testing.assert_allclose([s for _, s in overall], [s for _, s in expected], atol=1e-4)


def test_int8_is_calibrated_on_clips_with_a_float_head_and_reported(tmp_path):
    from keras_airn.data.datasets import read_vggsound
    from train.demo_data import make_demo_set

    csv_path, audio_dir, labels = make_demo_set(str(tmp_path / "data"), clips_per_class=2, seconds=1.5, seed=3,
                                                speech=False)
    split, _ = read_vggsound(csv_path, audio_dir, "train", labels)
    keras.utils.set_random_seed(5)
    model = randomize_batchnorm(ka.create_model("b0", num_classes=len(labels), **TINY), seed=5)
    with pytest.raises(ConversionError, match="int8 needs representative data"):
        export_openvino(model, str(tmp_path / "refused"), front_end=FRONT_END, precisions=["int8"])
    assert not (tmp_path / "refused").exists()
    out = tmp_path / "out"
    report = export_openvino(model, str(out), front_end=FRONT_END, examples=split.examples, label_names=labels,
                             precisions=["fp32", "int8"], num_eval=100)
    entry = report["artifacts"]["int8"]
    half = len(split.examples) // 2  # the split of the other exporters: the first half calibrates
    assert entry["calibration_clips"] == half and report["eval_clips"] == len(split.examples) - half
    assert "calibrated on" in entry["warning"] and entry["ran_as"] == entry["inference_precision"] == "f32"
    assert entry["ops"]["FakeQuantize"] > 10 and "FakeQuantize" not in report["artifacts"]["fp32"]["ops"]
    # The head stays float: the classifier's MatMul reads no FakeQuantize output.
    ir = openvino_core().read_model(ir_path(out, report, "int8"))
    head = [op for op in ir.get_ordered_ops() if op.get_type_name() == "MatMul"]
    assert entry["float_head"] and len(head) == 1
    assert {value.get_node().get_type_name() for value in head[0].input_values()}.isdisjoint({"FakeQuantize"})
    assert entry["max_rel_logit_error"] < 0.15 and entry["top1_agreement"] >= 0.5
    assert {"top1_accuracy", "reference_top1_accuracy"} <= entry.keys()
    # Measured, as the TFLite int8, on windows of exact zeros: silence, MediaPipe's zero-padded last window.
    clips = report["eval_clips"]
    assert entry["silence_windows"] == clips + 1 and entry["padded_window_windows"] == clips
    assert 0 <= entry["silence_top1_agreement"] <= 1 and 0 <= entry["padded_window_top1_agreement"] <= 1
    assert set(report["artifacts"]) == {"fp32", "int8"}
    assert report_entry(ir_path(out, report, "int8")) == (report, entry)
    # Each precision in its faster layout: fp32's time-axis convolutions as rows (a transpose before
    # and after each), int8's as columns; time_as_rows= sets one layout for all.
    fp32 = report["artifacts"]["fp32"]
    assert fp32["time_as_rows"] and not entry["time_as_rows"]
    assert fp32["ops"]["Transpose"] > entry["ops"].get("Transpose", 0)
    columns = export_openvino(model, str(tmp_path / "columns"), front_end=FRONT_END, random_calibration=True,
                              num_eval=1, time_as_rows=False)["artifacts"]["fp32"]
    assert not columns["time_as_rows"] and columns["ops"].get("Transpose", 0) == entry["ops"].get("Transpose", 0)
    # --recommend measures every artifact's agreement against its fp32 sibling; benchmark rows say what ran.
    from edge.artifact_timing import benchmark
    from edge.recommend import measured_agreement

    paths = [ir_path(out, report), ir_path(out, report, "int8")]
    agreement = measured_agreement(paths, split.examples)
    assert agreement[paths[0]] == 1.0 and agreement[paths[1]] >= 0.5
    rows = benchmark(paths, threads=1, rounds=2, warmup=1)
    assert [row["inference_precision"] for row in rows] == ["f32", "f32"] and rows[0]["macs"] > 0


def test_bf16_is_refused_in_one_line_on_a_cpu_without_bf16(tiny, tmp_path):
    if HAS_BF16:
        pytest.skip("this CPU has bf16 instructions: bf16 is exported, not refused")
    with pytest.raises(ConversionError, match=r"^bf16: this CPU \(.*\) has no bf16 instructions") as refused:
        export_openvino(tiny["keras"], str(tmp_path / "out"), front_end=FRONT_END, precisions=["fp32", "bf16"])
    assert "\n" not in str(refused.value) and not (tmp_path / "out").exists()
    result = subprocess.run([sys.executable, "-m", "convert.openvino", f"--model={tiny['keras']}",
                             f"--out_dir={tmp_path / 'cli'}", "--precisions=bf16"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 1 and len(errors) == 1 and "has no bf16 instructions" in errors[0], result.stderr[-2000:]
    assert "Traceback" not in result.stderr and not (tmp_path / "cli").exists()


def test_bf16_runs_bf16_on_a_cpu_with_bf16(tmp_path):
    if not HAS_BF16:
        pytest.skip("this CPU has no bf16 instructions: bf16 is refused (the test above)")
    # B0's widths (OpenVINO 2026.4 does not finish compiling the TINY network at bf16: the next test).
    model = randomize_batchnorm(ka.create_model("b0", num_classes=4, depths=(1, 1, 1, 1)), seed=2)
    report = export_openvino(model, str(tmp_path / "out"), front_end=FRONT_END, precisions=["bf16"], num_eval=4)
    entry = report["artifacts"]["bf16"]
    assert entry["inference_precision"] == entry["ran_as"] == "bf16" and not entry["time_as_rows"]
    # bf16 keeps 8 bits of mantissa: logits near Keras's float32, not equal to them.
    assert 0 < entry["max_rel_logit_error"] < 0.05, entry
    inputs = random_log_mel(2, FRONT_END.num_frames, seed=6)
    expected = model.predict(inputs, verbose=0)
    assert 0 < max_relative_error(run_openvino(ir_path(tmp_path / "out", report, "bf16"), inputs), expected) < 0.05


def test_a_bf16_compile_that_never_returns_is_one_line(tiny, tmp_path, monkeypatch):
    from keras_airn.export import openvino as openvino_export

    if not HAS_BF16:
        pytest.skip("this CPU has no bf16 instructions: bf16 is refused (the test above)")
    monkeypatch.setattr(openvino_export, "BF16_COMPILE_SECONDS", 20)
    try:
        report = export_openvino(tiny["keras"], str(tmp_path / "out"), front_end=FRONT_END, precisions=["bf16"],
                                 num_eval=1)
    except ConversionError as refused:  # OpenVINO 2026.4: its CPU plugin spins on this graph at bf16
        assert "\n" not in str(refused)
        assert "did not finish compiling it at bf16 in 20 s" in str(refused) and not (tmp_path / "out").exists()
    else:  # an OpenVINO that compiles it runs it at bf16
        assert report["artifacts"]["bf16"]["ran_as"] == "bf16"


def test_a_bad_ir_is_named_in_one_line(tiny, tmp_path):
    import shutil

    for name in ("front_end.json", tiny["report"]["artifacts"]["fp32"]["file"]):  # the IR without its .bin
        shutil.copy(tiny["ir"] / name, tmp_path / name)
    path = str(tmp_path / tiny["report"]["artifacts"]["fp32"]["file"])
    with pytest.raises(ArtifactError, match=r"no weights file airn_b0_deploy_spectrogram_fp32\.bin beside"):
        openvino_model(path)
    text = tmp_path / "notes.xml"
    text.write_text("<notes>hello</notes>")
    with pytest.raises(ArtifactError, match="not an OpenVINO IR"):
        WindowScorer(str(text), FRONT_END)
    result = subprocess.run([sys.executable, "-m", "edge.classify", f"--model={path}", f"--audio={tiny['audio']}"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 1 and errors == [f"error: {path}: no weights file "
                                                 f"airn_b0_deploy_spectrogram_fp32.bin beside the OpenVINO IR."], \
        result.stderr[-2000:]
    assert "Traceback" not in result.stderr
