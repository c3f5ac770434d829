"""Runs are never lost or mixed, audio that passes the check is read, and the tools report bad
input as one line naming it."""

import json
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import soundfile
import tensorflow as tf

import keras_airn as ka
from keras_airn.data.audio import decode_audio
from keras_airn.data.datasets import Example, Split, check_examples
from keras_airn.data.features import FrontEnd
from keras_airn.training import run_state
from keras_airn.training.trainer import TrainConfig, fit
from train.demo_data import synth_clip
from tests.helpers import TINY

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FRONT_END = FrontEnd(clip_seconds=0.64)  # 64 frames: the smallest useful input, fast to train
CONFIG = dict(epochs=3, batch_size=4, learning_rate=0.05, lr_steps=(2,), precise_bn_batches=2, seed=5)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Two classes x 6 one-second WAV files."""
    root = tmp_path_factory.mktemp("clips")
    examples = []
    for i in range(12):
        label = i % 2
        path = str(root / f"{i}.wav")
        clip = 0.5 * synth_clip(("tone_low", "tone_high")[label], 1.0, 16000, np.random.default_rng(i))
        soundfile.write(path, clip.astype(np.float32), 16000, subtype="PCM_16")
        examples.append(Example(path, label))
    return Split(examples, ["low", "high"])


def build():
    return ka.create_model("b0", num_classes=2, dropout=0.1, num_frames=None, **TINY)


FIT_SCRIPT = textwrap.dedent("""
    import json, sys
    import keras_airn as ka
    from keras_airn.data.datasets import Example, Split
    from keras_airn.data.features import FrontEnd
    from keras_airn.training.trainer import TrainConfig, fit
    args = json.loads(sys.argv[1])
    split = Split([Example(p, l) for p, l in args["examples"]], args["labels"])
    fit(lambda: ka.create_model("b0", num_classes=2, dropout=0.1, num_frames=None, **args["tiny"]), split, None,
        FrontEnd(clip_seconds=0.64), TrainConfig(**args["config"]), args["out_dir"], resume=True)
""")


def fit_in_process(split, out_dir, fault=None, config=CONFIG):
    """Runs `fit(..., resume=True)` in a new process; `fault` kills it (SIGKILL) at that point."""
    args = json.dumps({"examples": [(e.path, e.label) for e in split.examples], "labels": split.label_names,
                       "tiny": TINY, "config": config, "out_dir": out_dir})
    env = dict(os.environ, CI="1", TF_CPP_MIN_LOG_LEVEL="3")
    env.pop(run_state.FAULT_VARIABLE, None)
    if fault:
        env[run_state.FAULT_VARIABLE] = fault
    return subprocess.run([sys.executable, "-c", FIT_SCRIPT, args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env=env)


@pytest.mark.slow
def test_a_kill_in_any_checkpoint_window_resumes_to_the_uninterrupted_weights(clips, tmp_path):
    whole = fit(build, clips, None, FRONT_END, TrainConfig(**CONFIG), str(tmp_path / "whole")).model
    out = str(tmp_path / "killed")
    # Killed after epoch 2's model is written but before its state: epoch 1's unit is the state.
    killed = fit_in_process(clips, out, fault="model_written:2")
    assert killed.returncode == -9, killed.stderr[-2000:]
    checkpoints = sorted(os.listdir(os.path.join(out, "checkpoints")))
    assert checkpoints == [".partial-epoch_0002", "epoch_0001"], checkpoints
    # Killed after epoch 3's unit is complete, before the older ones are removed.
    killed = fit_in_process(clips, out, fault="renamed:3")
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert "epoch_0003" in os.listdir(os.path.join(out, "checkpoints"))
    resumed = fit(build, clips, None, FRONT_END, TrainConfig(**CONFIG), out, resume=True).model
    assert sorted(os.listdir(os.path.join(out, "checkpoints"))) == ["epoch_0003"]
    for a, b in zip(whole.weights, resumed.weights):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-5, atol=1e-6, err_msg=a.path)


def test_one_run_per_folder_and_resume_needs_the_runs_settings(clips, tmp_path):
    out = str(tmp_path / "run")
    with run_state.RunLock(out):
        with pytest.raises(run_state.RunStateError, match=f"in use by process {os.getpid()} on"):
            fit(build, clips, None, FRONT_END, TrainConfig(**CONFIG), out)
    assert not os.path.exists(os.path.join(out, "run.json"))  # refused before writing anything
    fit(build, clips, None, FRONT_END, TrainConfig(**CONFIG), out, stop_after_epoch=1)
    with pytest.raises(run_state.RunStateError, match=r"already holds a run \(a checkpoint at epoch 1\)"):
        fit(build, clips, None, FRONT_END, TrainConfig(**CONFIG), out)
    other = dict(CONFIG, learning_rate=0.5)
    with pytest.raises(run_state.RunStateError, match=r"recipe.learning_rate: 0.05 -> 0.5"):
        fit(build, clips, None, FRONT_END, TrainConfig(**other), out, resume=True)
    with pytest.raises(run_state.RunStateError, match=r"front_end.clip_seconds: 0.64 -> 2.0"):
        fit(build, clips, None, FrontEnd(clip_seconds=2.0), TrainConfig(**CONFIG), out, resume=True)
    wider = lambda: ka.create_model("b0", num_classes=3, num_frames=None, dropout=0.1, **TINY)  # noqa: E731
    differences = r"labels: \[.low., .high.\] -> \[.low., .high., .mid.\]\n  network.num_classes: 2 -> 3"
    with pytest.raises(run_state.RunStateError, match=differences):
        fit(wider, Split(clips.examples, ["low", "high", "mid"]), None, FRONT_END, TrainConfig(**CONFIG), out,
            resume=True)
    assert FrontEnd.load(os.path.join(out, "front_end.json")) == FRONT_END  # untouched by the refusals


def test_a_run_from_before_a_new_option_resumes_while_the_option_is_off():
    stored = {"recipe": {"learning_rate": 0.01}, "front_end": {"n_mels": 128}}
    newer = {"recipe": {"learning_rate": 0.01, "time_mask_share": 0.0, "noise_snr_db": 0}, "front_end": {"n_mels": 128}}
    assert run_state.settings_differences(stored, newer) == []
    newer["recipe"]["time_mask_share"] = 0.1  # on: the run did not train that way
    assert run_state.settings_differences(stored, newer) == ["recipe.time_mask_share: (unset) -> 0.1"]
    assert run_state.settings_differences(newer, stored) == ["recipe.noise_snr_db: 0 -> (unset)",
                                                             "recipe.time_mask_share: 0.1 -> (unset)"]


@pytest.mark.parametrize("kind", ["pcm24", "pcm32", "float", "flac_named_wav", "truncated"])
def test_audio_the_check_accepts_is_read_in_the_pipeline(tmp_path, kind):
    audio = (0.5 * synth_clip("chirp_up", 1.0, 16000, np.random.default_rng(0))).astype(np.float32)
    path = str(tmp_path / "clip.wav")
    subtype = {"pcm24": "PCM_24", "pcm32": "PCM_32", "float": "FLOAT"}.get(kind, "PCM_16")
    soundfile.write(path, audio, 16000, subtype=subtype, format="FLAC" if kind == "flac_named_wav" else "WAV")
    if kind == "truncated":  # the header promises more data than the file holds
        data = open(path, "rb").read()
        open(path, "wb").write(data[: len(data) // 2])
    assert check_examples([Example(path, 0)], 16000, "fail") == [Example(path, 0)]
    decoded = list(tf.data.Dataset.from_tensors(path).map(lambda p: decode_audio(p, 16000)))[0].numpy()
    if kind == "truncated":
        assert 4000 < len(decoded) < 16000, len(decoded)
    else:
        assert len(decoded) == 16000
    np.testing.assert_allclose(decoded, audio[: len(decoded)], atol=1e-4)


@pytest.fixture(scope="module")
def tiny_model_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    build().save(str(root / "model.keras"))
    return root


@pytest.mark.parametrize("case", ["missing_model", "nan_audio", "no_front_end", "bad_folder", "leftover"])
def test_cli_errors_are_one_line_without_a_traceback(tiny_model_file, tmp_path, case):
    model = str(tiny_model_file / "model.keras")
    FRONT_END.save(str(tiny_model_file))
    good = str(tmp_path / "good.wav")
    soundfile.write(good, np.zeros(16000, np.float32), 16000)
    nan = str(tmp_path / "nan.wav")
    soundfile.write(nan, np.full(16000, np.nan, np.float32), 16000, subtype="FLOAT")
    commands = {
        "missing_model": (["edge.classify", f"--model={tmp_path}/none.tflite", f"--audio={good}"],
                          f"error: No model file at '{tmp_path}/none.tflite'"),
        "nan_audio": (["edge.classify", f"--model={model}", f"--audio={good},{nan}"],
                      "nan.wav: audio contains NaN"),
        "no_front_end": (["convert.tflite", f"--model={model}", f"--out_dir={tmp_path}/out",
                          f"--front_end={tmp_path}/absent.json"], "absent.json' is neither a front_end.json"),
        "bad_folder": (["train.finetune", "--dataset=folder", f"--data_dir={tmp_path}/nowhere",
                        f"--out_dir={tmp_path}/run"], "nowhere: dataset folder not found"),
        # A flag's second value is not silently dropped (absl leaves it as an argument).
        "leftover": (["train.finetune", "--dataset=folder", f"--data_dir={tmp_path}", f"--out_dir={tmp_path}/run",
                      "--epochs", "3", "5"], "unexpected argument(s) '5'"),
    }
    arguments, message = commands[case]
    result = subprocess.run([sys.executable, "-m", *arguments], cwd=ROOT, capture_output=True, text=True,
                            timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    assert message in result.stderr and "Traceback" not in result.stderr, result.stderr[-2000:]
    if case == "leftover":
        assert not os.path.exists(f"{tmp_path}/run")  # refused before anything ran
    if case == "nan_audio":  # the good file is still classified and printed
        assert result.stdout.startswith(f"{good}: class_"), result.stdout


def test_bad_dataset_descriptions_and_artifacts_are_named(tmp_path):
    from edge.artifact_timing import load_runner
    from keras_airn.data.datasets import DatasetError, read_urbansound8k, read_vggsound
    from keras_airn.inference.runtime import ClassifyError

    (tmp_path / "audio").mkdir()
    leaking = tmp_path / "vggsound.csv"
    leaking.write_text("abc,10,dog,train\nxyz,3,cat,train\nabc,10,dog,test\n")
    with pytest.raises(DatasetError, match=r"1 clip\(s\) listed more than once, e.g. abc_000010 \(in both train "
                                           r"and test: leakage\)"):
        read_vggsound(str(leaking), str(tmp_path / "audio"), "train")
    (tmp_path / "us8k" / "metadata").mkdir(parents=True)
    (tmp_path / "us8k" / "metadata" / "UrbanSound8K.csv").write_text("slice_file_name,classID,class\na.wav,0,dog\n")
    with pytest.raises(DatasetError, match=r"UrbanSound8K.csv: no column\(s\) \['fold'\]"):
        read_urbansound8k(str(tmp_path / "us8k"), "train")
    recording = tmp_path / "audio" / "P01_01.wav"
    soundfile.write(str(recording), np.zeros(16000, np.float32), 16000)
    segments = [Example(str(recording), 0, 0, 8000), Example(str(recording), 1, 8000, 24000)]
    kept = check_examples(segments, 16000, "skip", str(tmp_path / "bad.txt"))
    assert kept == segments[:1]
    assert "P01_01.wav: segment 0.500-1.500 s ends after the recording (1.000 s)" in (tmp_path / "bad.txt").read_text()
    corrupt = tmp_path / "model.tflite"
    corrupt.write_bytes(b"not a flatbuffer" * 10)
    with pytest.raises(ClassifyError, match="model.tflite: not a loadable .tflite model"):
        load_runner(str(corrupt), 1)


def test_export_refuses_a_folder_of_another_models_artifacts_and_deletes_nothing(tiny_model_file, tmp_path):
    from keras_airn.export.tflite import ConversionError, export

    out = str(tmp_path / "export")
    export(build(), out, ["fp32"], front_end=FRONT_END, label_names=["low", "high"], num_eval=1)
    before = sorted(os.listdir(out))
    with pytest.raises(ConversionError, match="holds artifacts of another model"):
        export(build(), out, ["fp32"], front_end=FRONT_END, label_names=["cat", "dog"], num_eval=1)
    assert sorted(os.listdir(out)) == before and ka.load_labels(os.path.join(out, "labels.json")) == ["low", "high"]
    fp32 = [n for n in before if n.endswith(".tflite")]
    report = export(build(), out, ["fp16"], front_end=FRONT_END, label_names=["low", "high"], num_eval=1)
    # Same model: fine; an export only adds or replaces what it writes, the report lists both.
    assert sorted(n for n in os.listdir(out) if n.endswith(".tflite")) == sorted(fp32 + [report["artifacts"]["fp16"]
                                                                                        ["file"]])
    assert set(json.load(open(os.path.join(out, "report.json")))["artifacts"]) == {"fp32", "fp16"}
    # An empty or missing precision list writes nothing and deletes nothing: one line naming it.
    classifier = ka.AudioClassifier(build(), FRONT_END, ["low", "high"])
    for empty in ([], None, ""):
        with pytest.raises(ConversionError, match="no precision given"):
            classifier.export(out, precision=empty, num_eval=1)
    assert sorted(os.listdir(out)) == sorted(before + [report["artifacts"]["fp16"]["file"]])
    refused = subprocess.run([sys.executable, "-m", "convert.tflite", f"--model={tiny_model_file}/model.keras",
                              f"--front_end={out}/front_end.json", f"--out_dir={out}", "--precisions="], cwd=ROOT,
                             capture_output=True, text=True, timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert refused.returncode == 1 and refused.stderr.strip().splitlines()[-1].startswith("error: no precision"), \
        refused.stderr[-2000:]
    assert "Traceback" not in refused.stderr and os.path.isfile(os.path.join(out, fp32[0]))


def test_a_diverging_run_stops_at_the_first_non_finite_loss_and_writes_no_final_model(clips, tmp_path):
    from keras_airn.training.trainer import TrainingDiverged

    out = str(tmp_path / "diverged")
    with pytest.raises(TrainingDiverged, match=r"loss became NaN or infinite at epoch \d+, step \d+: .* no final "
                                               r"model is written"):
        fit(build, clips, None, FRONT_END, TrainConfig(**dict(CONFIG, learning_rate=1e12)), out)
    assert not any(name.endswith(".keras") for name in os.listdir(out)) and not os.path.exists(
        os.path.join(out, "summary.json"))
    checkpoint = run_state.latest_checkpoint(out)
    if checkpoint is not None:  # what is kept is finite
        import keras

        kept = keras.saving.load_model(checkpoint[0])
        assert all(np.isfinite(w).all() for w in kept.get_weights())


@pytest.mark.slow
def test_checkpoint_minutes_skips_the_epochs_between_and_keeps_the_last(clips, tmp_path):
    out = str(tmp_path / "sparse")
    # Epoch 1's checkpoint is due only after an hour: the fault at its write is never reached.
    sparse = fit_in_process(clips, out, fault="model_written:1", config=dict(CONFIG, checkpoint_minutes=60))
    assert sparse.returncode == 0, sparse.stderr[-2000:]
    assert os.listdir(os.path.join(out, "checkpoints")) == ["epoch_0003"]  # the run's last epoch is always written
    # Every epoch by default: the same fault kills the process at epoch 1.
    assert fit_in_process(clips, str(tmp_path / "dense"), fault="model_written:1").returncode == -9


def test_a_refused_run_leaves_the_existing_runs_files_alone(clips, tmp_path):
    data = tmp_path / "data"
    for example in clips.examples:
        label = clips.label_names[example.label]
        os.makedirs(data / label, exist_ok=True)
        os.symlink(example.path, data / label / os.path.basename(example.path))
    out = tmp_path / "run"
    out.mkdir()
    (out / run_state.RUN_CONFIG).write_text("{}")  # a run was started here
    (out / "split.csv").write_text("the existing run's split\n")
    command = [sys.executable, "-m", "train.finetune", "--dataset=folder", f"--data_dir={data}", f"--out_dir={out}"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    finished = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert finished.returncode == 1 and "already holds a run" in finished.stderr, finished.stderr[-2000:]
    with run_state.RunLock(str(out)):  # and one in use by another process
        busy = subprocess.run(command + ["--resume"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                              env=env)
    assert busy.returncode == 1 and f"in use by process {os.getpid()}" in busy.stderr, busy.stderr[-2000:]
    assert (out / "split.csv").read_text() == "the existing run's split\n"
    assert sorted(os.listdir(out)) == [".lock", "run.json", "split.csv"]
    # Options fit refuses are refused before the run's first file (split.csv) is written.
    fresh = tmp_path / "fresh"
    refused = subprocess.run(command[:-1] + [f"--out_dir={fresh}", "--select_best", "--test_fraction=0"], cwd=ROOT,
                             capture_output=True, text=True, timeout=300, env=env)
    assert refused.returncode == 1 and "select_best" in refused.stderr.splitlines()[-1], refused.stderr[-2000:]
    assert not (fresh / "split.csv").exists(), os.listdir(fresh)


def test_ctrl_c_is_one_line(clips, tmp_path):
    import signal
    import time

    data = tmp_path / "data"
    for example in clips.examples:
        os.makedirs(data / clips.label_names[example.label], exist_ok=True)
        os.symlink(example.path, data / clips.label_names[example.label] / os.path.basename(example.path))
    process = subprocess.Popen([sys.executable, "-m", "train.finetune", "--dataset=folder", f"--data_dir={data}",
                                f"--out_dir={tmp_path}/run", "--clip_seconds=0.64"], cwd=ROOT, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CI="1"))
    deadline = time.monotonic() + 240
    while not os.path.exists(tmp_path / "run" / "run.json") and time.monotonic() < deadline:
        time.sleep(0.5)  # the run has started
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-2000:]
    assert "interrupted" in stderr and "Traceback" not in stderr, stderr[-2000:]


def test_ctrl_c_inside_a_step_waits_for_the_steps_end_and_a_second_one_does_not():
    import signal

    from keras_airn.training import interrupt

    finished_step = False
    with pytest.raises(KeyboardInterrupt):
        with interrupt.between_steps():
            os.kill(os.getpid(), signal.SIGINT)  # recorded only: the "step" goes on
            finished_step = True
            interrupt.raise_if_requested()
    assert finished_step
    with pytest.raises(KeyboardInterrupt):
        with interrupt.between_steps():
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)  # the second interrupts at once
            pytest.fail("a second Ctrl-C should interrupt at once")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_nan_audio_met_during_a_run_is_listed_and_skipped_or_named(clips, tmp_path):
    """The start-of-run check reads headers; NaN samples are met only when a crop is decoded."""
    nan = str(tmp_path / "nan.wav")
    soundfile.write(nan, np.full(16000, np.nan, np.float32), 16000, subtype="FLOAT")
    train = Split(clips.examples[:8] + [Example(nan, 0)], clips.label_names)
    test = Split(clips.examples[8:] + [Example(nan, 1)], clips.label_names)
    config = TrainConfig(**dict(CONFIG, epochs=1, batch_size=3, lr_steps=()))  # 3 x 3: every clip is met
    out = str(tmp_path / "skip")
    summary = fit(build, train, test, FRONT_END, config, out).summary
    for split in ("train", "test"):  # listed once each (training may meet it again in precise BN)
        assert open(os.path.join(out, f"bad_audio_{split}.txt")).read().splitlines() == [
            f"{nan}: audio contains NaN or infinite samples."]
    assert summary["metrics"]["skipped_examples"] == 1 and np.isfinite(summary["metrics"]["top1"])
    assert os.path.isfile(summary["paths"]["train_model"])
    script = textwrap.dedent(f"""
        import sys
        from absl import app
        from keras_airn import cli
        from tests.test_reliability import build, fit, Split, Example, FRONT_END, TrainConfig, CONFIG
        def main(argv):
            split = Split([Example(p, l) for p, l in {[(e.path, e.label) for e in train.examples]!r}], ["low", "high"])
            fit(build, split, None, FRONT_END, TrainConfig(**CONFIG), {str(tmp_path / "fail")!r}, bad_audio="fail")
        cli.run(main)
    """)
    failed = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CI="1"))
    assert failed.returncode == 1 and f"error: {nan}: audio contains NaN" in failed.stderr, failed.stderr[-2000:]
    assert "Traceback" not in failed.stderr


def test_bad_arguments_of_the_python_api_are_named(tmp_path, capsys):
    from keras_airn.export.tflite import ConversionError, export
    from keras_airn.data.labels import LabelError
    from keras_airn.inference.runtime import WindowScorer
    from keras_airn.task import AudioClassifier, PresetError

    with pytest.raises(LabelError, match="the single string 'abc'"):
        AudioClassifier.from_preset("b0", labels="abc")
    with pytest.raises(PresetError, match="num_classes must be a positive integer, got 0"):
        AudioClassifier.from_preset("b0", num_classes=0)
    with pytest.raises(ValueError, match="num_classes must be a positive integer, got 0"):
        ka.create_model("b0", num_classes=0, **TINY)
    classifier = AudioClassifier(build(), FRONT_END, ["low", "high"])
    wave = np.zeros(16000, np.float32)
    with pytest.raises(ValueError, match=r"unknown label 1.7"):
        classifier._as_split([wave], [1.7], str(tmp_path), "train")
    assert classifier._as_split([wave], np.array([1.0]), str(tmp_path), "train").examples[0].label == 1
    occupied = tmp_path / "a_file"
    occupied.write_text("mine")
    with pytest.raises(ConversionError, match="a_file: exists and is not a folder"):
        export(build(), str(occupied), ["fp32"], front_end=FRONT_END)
    assert occupied.read_text() == "mine"
    with pytest.raises(ConversionError, match=r"int8 needs representative data: .*random_calibration=True"):
        export(build(), str(tmp_path / "int8"), ["int8"], front_end=FRONT_END)
    assert not (tmp_path / "int8").exists()  # refused before the folder is made
    for split in ("train", "test"):  # one recording copied into both split folders
        for label in ("low", "high"):
            os.makedirs(tmp_path / "folder" / split / label)
            soundfile.write(str(tmp_path / "folder" / split / label / f"{split}.wav"),
                            synth_clip(f"tone_{label}", 1.0, 16000, np.random.default_rng(len(split))), 16000)
    soundfile.write(str(tmp_path / "folder" / "test" / "low" / "copy.wav"),
                    soundfile.read(str(tmp_path / "folder" / "train" / "low" / "train.wav"))[0], 16000)
    with pytest.raises(ka.datasets.DatasetError, match=r"1 recording\(s\) in two splits .*copy.wav \(test, low\)"):
        ka.read_folder(str(tmp_path / "folder"))
    os.remove(tmp_path / "folder" / "test" / "low" / "copy.wav")  # and one recording under two labels
    soundfile.write(str(tmp_path / "folder" / "train" / "high" / "copy.wav"),
                    soundfile.read(str(tmp_path / "folder" / "train" / "low" / "train.wav"))[0], 16000)
    with pytest.raises(ka.datasets.DatasetError, match=r"1 recording\(s\) under two labels"):
        ka.read_folder(str(tmp_path / "folder"))
    long_file = str(tmp_path / "long.wav")
    soundfile.write(long_file, np.zeros(16000 * 3, np.float32), 16000)
    WindowScorer(classifier.network, FRONT_END).classify_file(long_file, progress=True)
    assert "/3 s of audio" in capsys.readouterr().err  # the bar has a total


def test_recommend_with_bad_data_is_refused_before_timing(tiny_model_file, tmp_path):
    out = tmp_path / "bench"
    result = subprocess.run([sys.executable, "-m", "edge.benchmark", f"--artifacts={tiny_model_file}/model.keras",
                             f"--out_dir={out}", "--recommend", f"--recommend_data={tmp_path}/absent"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert result.returncode == 1 and "absent" in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert not out.exists()


def test_a_stream_takes_the_input_forms_predict_takes_by_one_rule():
    from keras_airn.inference.runtime import ClassifyError, Window, WindowScorer
    from keras_airn.inference.streaming import EventTracker, StreamScorer

    classifier = ka.AudioClassifier(build(), FRONT_END, ["low", "high"])
    wave = 0.5 * synth_clip("tone_low", 1.5, 16000, np.random.default_rng(0)).astype(np.float32)
    pcm16 = np.round(wave * 32767).astype(np.int16)

    def stream(chunk, scorer=None):
        scorer = scorer or StreamScorer(WindowScorer(classifier.network, FRONT_END))
        return [w.scores for w in scorer.push(chunk) + scorer.finish()]

    floats = stream(pcm16 / 32768.0)
    np.testing.assert_allclose(stream(pcm16), floats, atol=1e-6)  # int16 scaled as predict scales it
    np.testing.assert_allclose(stream(pcm16, StreamScorer(classifier)), floats, atol=1e-6)  # an AudioClassifier
    for stereo in (np.stack([wave, wave], axis=1), np.stack([wave, wave])):
        with pytest.raises(ClassifyError, match=r"StreamScorer.push: expected mono 1-D samples, got shape \(2"):
            stream(stereo)
        with pytest.raises(ValueError, match="x.mean"):
            classifier.predict([stereo])
    with pytest.raises(ClassifyError, match="StreamScorer.push: got None"):
        stream(None)
    with pytest.raises(TypeError, match="waveform 0: got None"):
        classifier.predict([None])
    short = StreamScorer(classifier)
    short.push(wave[:4000])
    assert len(short.finish()) == 1 and short.finish() == []  # a second finish() repeats nothing
    with pytest.raises(ClassifyError, match="smoothing must be a whole number"):
        EventTracker(["a", "b"], 0.5, smoothing=2.5)
    with pytest.raises(ClassifyError, match="a window of 3 scores for a tracker of 2 labels"):
        EventTracker(["a", "b"], 0.5).update(Window(0.0, 1.0, np.array([0.2, 0.3, 0.5])))


def test_a_resume_on_other_data_is_refused_before_anything_is_written(clips, tmp_path):
    data = tmp_path / "data"
    for example in clips.examples:
        os.makedirs(data / clips.label_names[example.label], exist_ok=True)
        os.symlink(example.path, data / clips.label_names[example.label] / os.path.basename(example.path))
    out = tmp_path / "run"
    out.mkdir()
    (out / run_state.RUN_CONFIG).write_text("{}")  # a run started on the default split of this folder
    ka.datasets.write_split_csv(ka.datasets.read_folder(str(data), test_fraction=0.2, seed=0), str(out / "split.csv"))
    split = (out / "split.csv").read_bytes()
    command = [sys.executable, "-m", "train.finetune", "--dataset=folder", f"--data_dir={data}", f"--out_dir={out}",
               "--clip_seconds=0.64", "--resume"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CI="1")
    for other in (["--test_fraction=0.5"], ["--seed=1"]):
        refused = subprocess.run(command + other, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
        assert refused.returncode == 1 and "a resume on other data" in refused.stderr, refused.stderr[-2000:]
        assert "Traceback" not in refused.stderr and (out / "split.csv").read_bytes() == split
        assert sorted(os.listdir(out)) == [".lock", "run.json", "split.csv"]
    # The Python API: the run records its data; other clips are refused by fit itself.
    api = str(tmp_path / "api")
    config = TrainConfig(**{**CONFIG, "precise_bn_batches": 0})
    fit(build, clips, None, FRONT_END, config, api, stop_after_epoch=1)
    fewer = Split(clips.examples[:8], clips.label_names)
    with pytest.raises(run_state.RunStateError, match=r"data.train.clips: 12 -> 8"):
        fit(build, fewer, None, FRONT_END, config, api, resume=True)


@pytest.mark.parametrize("case", ["parse_error", "usage_error", "nan", "lr_steps", "dropout", "eval_period", "num_eval",
                                  "empty_stdin", "one_byte", "tiny_hop", "comma", "closed_pipe",
                                  "missing_calibration_clip"])
def test_every_usage_error_is_one_line_and_a_closed_pipe_is_quiet(tiny_model_file, tmp_path, case):
    model = str(tiny_model_file / "model.keras")
    FRONT_END.save(str(tiny_model_file))
    comma = str(tmp_path / "a,b.wav")
    soundfile.write(comma, 0.1 * np.random.default_rng(0).standard_normal(24000).astype(np.float32), 16000)
    listen = ["edge.listen", f"--model={model}", "--stdin"]
    vggsound = tmp_path / "vggsound.csv"  # the train split's second row has no audio file
    vggsound.write_text("a,0,cat,train\nb,0,dog,train\ngone,0,dog,train\nc,0,cat,test\nd,0,dog,test\n")
    for stem in "abcd":
        soundfile.write(str(tmp_path / f"{stem}_000000.wav"), np.zeros(16000, np.float32), 16000)
    commands = {  # (arguments, stdin, the error line or None for success)
        "parse_error": (["edge.classify", f"--model={model}", f"--audio={comma}", "--top_k=x"], b"",
                        "error: flag --top_k=x: invalid literal"),
        "usage_error": (["edge.classify", f"--model={model}"], b"", "error: --model and --audio are required."),
        "nan": (["train.finetune", "--dataset=folder", f"--data_dir={tmp_path}", f"--out_dir={tmp_path}/run",
                 "--gain_db=nan"], b"", "error: --gain_db must be a number, got NaN."),
        "lr_steps": (["train.finetune", "--dataset=folder", f"--data_dir={tmp_path}", f"--out_dir={tmp_path}/run",
                      "--lr_steps=a,b"], b"", "error: flag --lr_steps=['a', 'b']: --lr_steps must be"),
        "dropout": (["train.finetune", "--dataset=folder", f"--data_dir={tmp_path}", f"--out_dir={tmp_path}/run",
                     "--dropout=1.5"], b"", "error: flag --dropout=1.5: --dropout must be in [0, 1)."),
        "eval_period": (["train.finetune", "--dataset=folder", f"--data_dir={tmp_path}", f"--out_dir={tmp_path}/run",
                         "--eval_period=3"], b"", "error: flags eval_period="),
        "num_eval": (["convert.tflite", f"--model={model}", f"--out_dir={tmp_path}/run", "--num_eval=0"], b"",
                     "error: flag --num_eval=0: 0 is not"),
        "empty_stdin": (listen, b"", "error: the input ended before one sample"),
        "one_byte": (listen + ["--sample_rate=5"], b"\x01", "error: the input ended before one sample"),
        "tiny_hop": (listen + ["--hop_seconds=1e-9"], b"\0" * 32000, "error: hop_seconds 1e-09 is shorter than one"),
        "comma": (["edge.classify", f"--model={model}", f"--audio={comma}"], b"", None),
        "closed_pipe": (["edge.classify", f"--model={model}", f"--audio={comma}", "--json"], b"", None),
        "missing_calibration_clip": (["convert.tflite", f"--model={model}", f"--out_dir={tmp_path}/run",
                                      f"--csv={vggsound}", f"--data_dir={tmp_path}", "--precisions=int8"], b"",
                                     f"error: {vggsound}: 1 row(s) of the 'train' split have no audio file in "
                                     f"{tmp_path} (e.g. gone_000000)"),
    }
    arguments, stdin, message = commands[case]
    process = subprocess.Popen([sys.executable, "-m", *arguments], cwd=ROOT, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    if case == "closed_pipe":  # as `| head -c 1`: the reader goes away after one byte
        process.stdin.close()
        assert process.stdout.read(1) == b"{"
        process.stdout.close()
        stderr = process.stderr.read().decode()
        process.wait(timeout=300)
        assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr[-2000:]
        return
    stdout, stderr = (s.decode() for s in process.communicate(stdin, timeout=300))
    if message is None:
        assert process.returncode == 0 and stdout.startswith(f"{comma}: "), (stdout, stderr[-2000:])
        return
    lines = [line for line in stderr.splitlines()  # TensorFlow's own start-up lines aside
             if line.strip() and not re.match(r"(WARNING: All log messages|[IWE]\d{4} )", line)]
    assert process.returncode == 1 and lines[-1].startswith(message), stderr[-2000:]
    assert "Traceback" not in stderr and len(lines) == 1 and not (tmp_path / "run").exists(), stderr[-2000:]


def test_the_classifier_exposes_the_optimizer_it_was_compiled_and_trained_with(clips, tmp_path):
    import keras

    classifier = ka.AudioClassifier(build(), FRONT_END, clips.label_names)
    assert classifier.optimizer is None  # "auto": the recipe's, made by fit
    adam = keras.optimizers.Adam(learning_rate=2e-3)
    classifier.compile(optimizer=adam)
    assert classifier.optimizer is adam  # as keras.Model.compile
    classifier.fit(clips, epochs=1, batch_size=4, verbose=0, precise_bn_batches=0, out_dir=str(tmp_path / "run"))
    trained = classifier.optimizer  # the copy fit built from adam's config (the checkpoints' optimizer)
    assert isinstance(trained, keras.optimizers.Adam) and float(trained.learning_rate) == pytest.approx(2e-3)
    assert int(trained.iterations) == 3  # 12 clips, batch 4: the steps it took
    classifier.compile()
    assert classifier.optimizer is None


def test_a_lambda_model_planted_as_a_checkpoint_is_refused_on_resume_in_one_line(clips, tmp_path):
    import keras

    from keras_airn.network.loading import ModelFileError

    out = str(tmp_path / "run")
    fit(build, clips, None, FRONT_END, TrainConfig(**CONFIG), out, stop_after_epoch=1)
    inputs = keras.Input((None, 128, 1))
    planted = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs))
    (checkpoint,) = [os.path.join(out, "checkpoints", name, "model.keras")
                     for name in os.listdir(os.path.join(out, "checkpoints"))]
    os.remove(checkpoint)
    planted.save(checkpoint)
    with pytest.raises(ModelFileError) as refused:
        fit(build, clips, None, FRONT_END, TrainConfig(**CONFIG), out, resume=True)
    assert "model.keras" in str(refused.value) and "Lambda" in str(refused.value)
    assert "\n" not in str(refused.value)


def test_a_pickle_saved_as_pyth_is_named_a_refused_pickle(tmp_path):
    import pickle

    pytest.importorskip("torch")
    from keras_airn.network.checkpoint import CheckpointError, read_state_dict

    class Payload:
        def __reduce__(self):
            return (print, ("ran",))

    pyth = tmp_path / "payload.pyth"
    pyth.write_bytes(pickle.dumps({"model_state": Payload()}))
    with pytest.raises(CheckpointError, match=r"payload.pyth' is a pickle naming code \(builtins.print\), "
                                              r"not a torch.save checkpoint: refused") as refused:
        read_state_dict(str(pyth))
    assert "truncated" not in str(refused.value) and "\n" not in str(refused.value)
