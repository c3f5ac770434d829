"""`convert.tflite`: every precision and both input forms convert, run in LiteRT and meet bounds."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_airn as ka
from keras_airn.export.tflite import ConversionError, export, run_tflite
from keras_airn.export.waveform import builtin_log_mel
from keras_airn.data.features import FrontEnd, log_mel_spectrogram
from tests.helpers import TINY, randomize_batchnorm
from keras_airn.data.datasets import read_vggsound
from train.demo_data import make_demo_set

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FRONT_END = FrontEnd(clip_seconds=1.28)  # 128 frames


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("convert")
    csv_path, audio_dir, labels = make_demo_set(str(root / "data"), clips_per_class=4, seconds=1.5,
                                                seed=2, speech=False)
    split, _ = read_vggsound(csv_path, audio_dir, "train", labels)
    keras.utils.set_random_seed(0)  # the same weights whichever tests ran before in this process
    model = randomize_batchnorm(ka.create_model("b0", num_classes=len(labels), **TINY), seed=1)
    path = str(root / "model_train.keras")
    model.save(path)
    return path, split, labels, root


def test_spectrogram_model_all_precisions(setup, tmp_path):
    path, split, labels, _ = setup
    report = export(path, str(tmp_path), ["fp32", "fp16", "dynamic", "int8"], front_end=FRONT_END,
                    examples=split.examples, label_names=labels, num_calibration=12, num_eval=12)
    assert report["form"] == "folded_identity" and report["input"] == "spectrogram" and report["format"] == "tflite"
    artifacts = report["artifacts"]
    assert artifacts["fp32"]["max_rel_logit_error"] <= 1e-4
    assert artifacts["fp16"]["max_rel_logit_error"] <= 1e-2
    for precision, entry in artifacts.items():
        assert os.path.isfile(tmp_path / entry["file"])
        assert not any(op.startswith("Flex") for op in entry["ops"]), entry["ops"]
    for precision in ("fp32", "fp16"):  # inside their bounds the float models decide as Keras does
        assert artifacts[precision]["top1_agreement"] == 1.0
        assert artifacts[precision]["top1_accuracy"] == artifacts[precision]["reference_top1_accuracy"]
    # The head (global pool, classifier) stays float: one DEQUANTIZE in front of it, float logits out.
    assert artifacts["int8"]["float_head"] and artifacts["int8"]["ops"].get("DEQUANTIZE") == 1
    # Tiny model: structure dominates the file, so only the order is checked here.
    assert artifacts["int8"]["bytes"] < artifacts["fp16"]["bytes"] < artifacts["fp32"]["bytes"]
    assert ka.load_labels(str(tmp_path / "labels.json")) == labels
    assert ka.FrontEnd.load(str(tmp_path / "front_end.json")) == FRONT_END
    assert json.load(open(tmp_path / "report.json"))["artifacts"].keys() == artifacts.keys()
    check_old_runtime_results(artifacts)


def check_old_runtime_results(artifacts):
    """tflite-runtime 2.14 runs every artifact of this tiny model: fp32 and fp16 as LiteRT does,
    int8 and dynamic within their rounding. (Dynamic-range layers large enough to be quantised
    use FULLY_CONNECTED v12, which 2.14 lacks: the demo B0's dynamic artifact fails so, and its
    report names the op version; this model has none that large.)"""
    old = {precision: entry["tflite_runtime_2_14"] for precision, entry in artifacts.items()}
    if not old["fp32"]["checked"]:
        if os.environ.get("CI"):
            pytest.fail("tflite-runtime 2.14 environment missing; `make test` builds it.")
        pytest.skip("no tflite-runtime 2.14 environment here (`make venv-tflite214` builds it)")
    for precision in ("fp32", "fp16"):
        assert old[precision]["runs"] and old[precision]["max_rel_diff_to_litert"] < 1e-5, old[precision]
    for precision in ("int8", "dynamic"):
        assert old[precision]["runs"] and old[precision]["max_rel_diff_to_litert"] < 0.1, old[precision]


def test_int8_with_integer_io(setup, tmp_path):
    path, split, labels, root = setup
    test, _ = read_vggsound(str(root / "data" / "vggsound.csv"), str(root / "data" / "audio"), "test", labels)
    # Calibrated on the training split, measured on every clip of the test split.
    report = export(path, str(tmp_path), ["int8"], front_end=FRONT_END, examples=test.examples,
                    calibration_examples=split.examples, int8_io=True, num_calibration=12, num_eval=100)
    assert report["eval_clips"] == len(test.examples) > 0
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(str(tmp_path / report["artifacts"]["int8"]["file"]))
    assert not report["artifacts"]["int8"]["float_head"]  # int8 logits: the head stays integer
    assert interpreter.get_input_details()[0]["dtype"] == np.int8
    assert interpreter.get_output_details()[0]["dtype"] == np.int8


def test_waveform_model_matches_python_front_end(setup, tmp_path):
    path, split, labels, _ = setup
    report = export(path, str(tmp_path), ["fp32", "fp16", "dynamic", "int8"], waveform=True,
                    front_end=FRONT_END, examples=split.examples, num_calibration=12, num_eval=8)
    assert report["input"] == "waveform"
    # int8 keeps the front-end float: one QUANTIZE after it, LOG and SQRT in float.
    int8_ops = report["artifacts"]["int8"]["ops"]
    assert int8_ops.get("QUANTIZE") == 1 and "LOG" in int8_ops and "SQRT" in int8_ops
    # (The float DFT matrices, 2 x 320 x 1025, dominate this tiny model's file.)
    assert report["artifacts"]["int8"]["bytes"] < report["artifacts"]["fp32"]["bytes"]
    # The report compares against the Keras model fed by the Python (tf.signal) front-end.
    assert report["artifacts"]["fp32"]["max_rel_logit_error"] <= 1e-3
    assert report["artifacts"]["fp16"]["max_rel_logit_error"] <= 1e-2
    assert "GATHER" in report["artifacts"]["fp32"]["ops"]
    # And the builtin front-end itself agrees with the training front-end.
    wave = np.random.default_rng(0).uniform(-0.5, 0.5, (1, FRONT_END.clip_size - 1)).astype(np.float32)
    builtin = builtin_log_mel(wave, wave.shape[1], FRONT_END).numpy()[0, ..., 0]
    reference = log_mel_spectrogram(wave[0]).numpy()
    assert np.abs(builtin - reference).max() < 2e-3


def test_short_recordings_calibrate_and_evaluate_a_waveform_model_padded(setup, tmp_path):
    """Clips shorter than the crop (FSDD's spoken digits: median 0.42 s) count, as training pads them."""
    import soundfile

    path, split, labels, _ = setup
    short = []
    for i, example in enumerate(split.examples[:10]):
        audio = ka.read_audio(example.path, 16000)[: int(16000 * (0.3 + 0.05 * i))]  # 0.30-0.75 s < 1.28 s
        short.append(ka.Example(str(tmp_path / f"short{i}.wav"), example.label))
        soundfile.write(short[-1].path, audio, 16000, subtype="FLOAT")
    report = export(path, str(tmp_path / "out"), ["fp32", "int8"], waveform=True, front_end=FRONT_END,
                    examples=short[5:], calibration_examples=short[:5], num_calibration=5, num_eval=5)
    assert report["eval_clips"] == 5, report
    assert report["artifacts"]["int8"]["calibration_clips"] == 5, report["artifacts"]["int8"]
    assert report["artifacts"]["fp32"]["max_rel_logit_error"] <= 1e-3  # padded model = repeated-frame features


@pytest.mark.slow
def test_int8_calibrates_on_exact_zeros_and_reports_silent_windows(setup, tmp_path):
    """Streams hold exact zeros (silence, MediaPipe's zero-padded last window) whose log-mel floor
    real clips never reach: calibration includes such windows, and the int8 report measures them."""
    from keras_airn.export.common import PADDED_WINDOW_BOUND, SILENCE_BOUND, calibration_and_evaluation
    from keras_airn.data.features import LOG_OFFSET

    path, split, labels, _ = setup
    (features, waves, _), _ = calibration_and_evaluation(split.examples[:4], None, FRONT_END, waveform=True,
                                                         num_calibration=4, num_eval=4, int8=True)
    assert (waves == 0).all(axis=1).any()  # a window of zeros
    assert ((waves[:, -100:] == 0).all(axis=1) & (waves[:, :100] != 0).any(axis=1)).any()  # audio, then zeros
    assert features.min() <= np.log(LOG_OFFSET) + 1e-3  # the log floor is inside the calibrated range
    report = export(path, str(tmp_path), ["int8"], waveform=True, front_end=FRONT_END, examples=split.examples,
                    num_calibration=12, num_eval=8)
    entry = report["artifacts"]["int8"]
    assert entry["silence_windows"] == report["eval_clips"] + 1, entry  # zeros, and zeros then each clip
    assert entry["padded_window_windows"] == report["eval_clips"], entry
    assert entry["silence_top1_agreement"] >= SILENCE_BOUND, entry
    assert entry["padded_window_top1_agreement"] >= PADDED_WINDOW_BOUND, entry


def test_b1_fp32_artifact_is_four_bytes_per_parameter(tmp_path):
    model_path = str(tmp_path / "b1.keras")
    ka.reparameterize(ka.create_model("b1", num_classes=309)).save(model_path)
    report = export(model_path, str(tmp_path / "out"), ["fp32"], num_eval=2)
    params, _ = ka.profile(ka.load_deploy(model_path), (512, 128))
    size = report["artifacts"]["fp32"]["bytes"]
    assert abs(size / (4 * params) - 1) < 0.02, (size, params)
    assert report["artifacts"]["fp32"]["max_rel_logit_error"] <= 1e-4


def test_bad_input_leaves_no_artifact(setup, tmp_path):
    path, split, _, root = setup
    out = tmp_path / "out"
    with pytest.raises(ConversionError, match="No model file"):
        export(str(tmp_path / "absent.keras"), str(out), ["fp32"])
    corrupt = tmp_path / "corrupt.keras"
    corrupt.write_bytes(b"garbage")
    with pytest.raises(ConversionError, match="not a readable .keras model"):
        export(str(corrupt), str(out), ["fp32"])
    torch = pytest.importorskip("torch")
    torch.save({"model_state": {"fc.weight": torch.zeros(2, 2)}}, tmp_path / "other.pyth")
    with pytest.raises(ValueError, match="Not an AudioRepInceptionNeXt checkpoint"):
        export(str(tmp_path / "other.pyth"), str(out), ["fp32"])
    with pytest.raises(ConversionError, match="int8 needs representative data"):
        export(path, str(out), ["int8"], front_end=FRONT_END)
    with pytest.raises(ConversionError, match="does not match the model's front-end"):
        export(path, str(out), ["fp32"], waveform=True, front_end=FRONT_END, sample_rate=44100)
    with pytest.raises(ConversionError, match="Unknown precision"):
        export(path, str(out), ["int4"], front_end=FRONT_END)
    assert not out.exists() or not any(p.suffix == ".tflite" for p in out.iterdir())


def test_cli_writes_report(setup, tmp_path):
    path, _, _, root = setup
    front_end_json = tmp_path / "front_end.json"
    front_end_json.write_text(json.dumps(FRONT_END.to_config()))
    result = subprocess.run(
        [sys.executable, "-m", "convert.tflite", f"--model={path}", f"--out_dir={tmp_path / 'out'}",
         "--precisions=fp32", f"--front_end={front_end_json}", f"--data_dir={root / 'data' / 'audio'}",
         f"--csv={root / 'data' / 'vggsound.csv'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "fp32" in result.stdout and "report:" in result.stdout
    report = json.load(open(tmp_path / "out" / "report.json"))
    assert report["artifacts"]["fp32"]["max_rel_logit_error"] <= 1e-4
    logits = run_tflite(str(tmp_path / "out" / report["artifacts"]["fp32"]["file"]),
                        np.zeros((1, 128, 128, 1), np.float32))
    assert logits.shape == (1, 6)
