"""Runs are never lost or mixed: a killed run resumes to the same weights, a run folder is bound to
its data and settings, and what stops a run (divergence, Ctrl-C, bad audio) says so in one line.
Bad input elsewhere: tests/test_reliability_inputs.py."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import soundfile

import keras_airn as ka
from keras_airn.data.datasets import Example, Split, write_split_csv
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
    build().save(str(tmp_path / "tiny.keras"))  # a tiny network: its first step, which the stop waits for, is short
    process = subprocess.Popen([sys.executable, "-m", "train.finetune", "--dataset=folder", f"--data_dir={data}",
                                f"--init={tmp_path}/tiny.keras", f"--out_dir={tmp_path}/run", "--clip_seconds=0.64"],
                               cwd=ROOT, text=True,
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


def test_a_resume_on_other_data_is_refused_before_anything_is_written(clips, tmp_path):
    data = tmp_path / "data"
    for example in clips.examples:
        os.makedirs(data / clips.label_names[example.label], exist_ok=True)
        os.symlink(example.path, data / clips.label_names[example.label] / os.path.basename(example.path))
    out = tmp_path / "run"
    out.mkdir()
    (out / run_state.RUN_CONFIG).write_text("{}")  # a run started on the default split of this folder
    write_split_csv(ka.read_folder(str(data), test_fraction=0.2, seed=0), str(out / "split.csv"))
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


