"""Multi-worker training with real processes on localhost (`train.launch_local`, TF_CONFIG, gRPC):
the same weights as one process, each worker decoding only its share, only the chief writing,
and a resume after a worker dies that ends where an uninterrupted run ends."""

import json
import os
import re
import subprocess
import sys
from collections import defaultdict

import keras
import numpy as np
import pytest
import soundfile

import keras_airn as ka
from keras_airn.training import run_state
from keras_airn.training.pipeline import TRACE_VARIABLE
from keras_airn.training.trainer import TrainConfig, estimate_precise_bn
from tests.helpers import TINY
from train.demo_data import synth_clip
from train.launch_local import worker_environments

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLASSES = ("tone_low", "tone_high", "noise")
BATCH, EPOCHS = 8, 2
# Both tests use the module's 2-worker run: one xdist worker runs them (`--dist loadgroup`).
pytestmark = pytest.mark.xdist_group("multi_worker")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A folder dataset (3 classes x 7 clips: 18 train -> 2 steps of 8 per epoch) and a tiny model."""
    root = tmp_path_factory.mktemp("multi_worker")
    for c, name in enumerate(CLASSES):
        os.makedirs(root / "data" / name)
        for i in range(7):
            clip = 0.5 * synth_clip(name, 1.0, 16000, np.random.default_rng(10 * c + i))
            soundfile.write(str(root / "data" / name / f"{i}.wav"), clip.astype(np.float32), 16000, subtype="PCM_16")
    # No dropout: replicas draw their own dropout masks, so only a dropout-free run can match one process.
    ka.create_model("b0", num_classes=3, num_frames=None, dropout=0.0, **TINY).save(str(root / "tiny.keras"))
    # The release's SGD: AdamW divides by sqrt(v) and so magnifies float summation order (0.003 apart).
    flags = ["--dataset", "folder", "--data_dir", str(root / "data"), "--init", str(root / "tiny.keras"),
             "--recipe", "release",
             "--front_end", "vggsound", "--clip_seconds", "0.64", "--batch_size", str(BATCH), "--epochs",
             str(EPOCHS), "--lr_steps", "1", "--lr", "0.05", "--dropout", "0", "--precise_bn_batches", "1",
             "--test_fraction", "0.15"]
    return root, flags


def _env(**extra):
    env = dict(os.environ, CI="1", TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    env.pop(run_state.FAULT_VARIABLE, None)
    env.update(extra)
    return env


def _final_model(out_dir, epoch=EPOCHS):
    return keras.saving.load_model(os.path.join(out_dir, run_state.CHECKPOINTS, f"epoch_{epoch:04d}",
                                                run_state.MODEL_FILE))


def _final_weights(out_dir, epoch=EPOCHS):
    return _final_model(out_dir, epoch).get_weights()


def _relative_difference(a, b):
    """max |x - y| / max |y| over all weights of the two models (the infinity norm of the weight
    vector). Per tensor it would divide float32 summation noise (~5e-7 after four steps) by
    BatchNorm betas that stay near zero."""
    return max(float(np.abs(x - y).max()) for x, y in zip(a, b)) / max(float(np.abs(y).max()) for y in b)


@pytest.fixture(scope="module")
def two_workers(setup):
    """An uninterrupted 2-worker run with decode tracing; worker 1 is given its own --out_dir,
    so whatever it wrote would land there. Returns (out_dirs, each worker's output)."""
    root, flags = setup
    out_dirs = [root / "chief", root / "worker1_view"]
    logs = [root / f"worker{i}.log" for i in range(2)]  # files, not pipes: a full pipe would stall a worker
    workers = []
    for out_dir, env, log in zip(out_dirs, worker_environments(2), logs):
        with open(log, "w") as handle:
            workers.append(subprocess.Popen(
                [sys.executable, "-m", "train.finetune", *flags, "--strategy", "multi_worker", "--out_dir",
                 str(out_dir)], cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT,
                env={**_env(**{TRACE_VARIABLE: "1"}), "TF_CONFIG": env["TF_CONFIG"]}))
    for worker in workers:
        worker.wait(timeout=600)
    outputs = [log.read_text() for log in logs]
    for worker, output in zip(workers, outputs):
        assert worker.returncode == 0, output[-4000:]
    return out_dirs, outputs


@pytest.mark.slow
def test_two_workers_match_one_process_and_only_the_chief_writes(setup, two_workers):
    root, flags = setup
    out_dirs, outputs = two_workers
    single = subprocess.run([sys.executable, "-m", "train.finetune", *flags, "--out_dir", str(root / "single")],
                            cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600)
    assert single.returncode == 0, single.stdout[-2000:] + single.stderr[-3000:]

    # (a) The same weights as one process on the same global batch.
    workers, single = _final_model(out_dirs[0]), _final_model(root / "single")
    difference = _relative_difference([w.numpy() for w in workers.trainable_weights],
                                      [w.numpy() for w in single.trainable_weights])
    initial = keras.saving.load_model(str(root / "tiny.keras")).get_weights()
    assert _relative_difference(workers.get_weights()[:1], initial[:1]) > 1e-3, "the weights did not move"
    # All-reduce order varies from run to run: below 1e-5 in one run, 2.3e-5 in another (same commit).
    assert difference < 5e-5, difference
    # BatchNorm statistics: each epoch's precise BN estimate from those weights on log-mel input
    # (values near -4), which scales their all-reduce noise up: 6.6e-4 apart in one run (weights: 6.1e-6).
    statistics = _relative_difference([w.numpy() for w in workers.non_trainable_weights],
                                      [w.numpy() for w in single.non_trainable_weights])
    assert statistics < 1e-2, statistics
    # ...and exactly the estimate from the workers' own weights on the last epoch's batches.
    stored = [w.numpy().copy() for w in workers.non_trainable_weights]
    run = str(out_dirs[0])
    config = TrainConfig(**json.load(open(os.path.join(run, run_state.RUN_CONFIG)))["recipe"])
    estimate_precise_bn(workers, ka.read_csv(os.path.join(run, "split.csv"))["train"],
                        ka.FrontEnd.load(os.path.join(run, "front_end.json")), config, EPOCHS - 1, steps=2,
                        bad_audio=None)
    assert _relative_difference([w.numpy() for w in workers.non_trainable_weights], stored) < 1e-5

    # (b) Each worker decoded only its half of each epoch's batches, and together all of them
    # (seed 0: training; the chief's precise-BN pass afterwards reads with seed 1).
    decoded = defaultdict(list)
    for index, output in enumerate(outputs):
        for epoch, example in re.findall(r"AIRN_DECODED seed 0 epoch (\d+) example (\d+)", output):
            decoded[index, int(epoch)].append(int(example))
    for epoch in range(EPOCHS):
        mine, theirs = decoded[0, epoch], decoded[1, epoch]
        assert len(mine) == len(theirs) == BATCH, (len(mine), len(theirs))  # 2 steps x half a batch
        assert not set(mine) & set(theirs) and len(set(mine) | set(theirs)) == BATCH * 2

    # (c) Only the chief wrote: worker 1's folder does not exist, the chief's holds the whole run.
    assert not os.path.exists(out_dirs[1])
    for name in ("run.json", "labels.json", "front_end.json", "model_train.keras", "model_deploy.keras",
                 "summary.json", "split.csv"):
        assert os.path.isfile(out_dirs[0] / name), name


@pytest.mark.slow
def test_a_killed_worker_resumes_to_the_uninterrupted_weights(setup, two_workers):
    root, flags = setup
    out_dir = str(root / "killed")
    launch = [sys.executable, "-m", "train.launch_local", "--num_workers", "2", "--grace_seconds", "3", "--",
              "train.finetune", *flags, "--strategy", "multi_worker", "--out_dir", out_dir]
    # Worker 1 dies (SIGKILL) after the first step of epoch 2; the launcher stops the chief.
    killed = subprocess.run(launch, cwd=ROOT, env=_env(**{run_state.FAULT_VARIABLE: "worker1_step:2"}),
                            capture_output=True, text=True, timeout=600)
    assert killed.returncode != 0, killed.stdout[-3000:]
    assert "Worker 1 exited with -9" in killed.stderr, killed.stderr[-3000:]
    assert run_state.latest_checkpoint(out_dir)[1]["epoch"] == 1
    resumed = subprocess.run([*launch, "--resume"], cwd=ROOT, env=_env(), capture_output=True, text=True,
                             timeout=600)
    assert resumed.returncode == 0, resumed.stdout[-3000:]
    assert "Resuming" in resumed.stdout and "at epoch 1" in resumed.stdout
    difference = _relative_difference(_final_weights(out_dir), _final_weights(two_workers[0][0]))
    assert difference < 1e-6, difference


@pytest.mark.parametrize("arguments, message", [
    (["--num_workers", "0", "--", "train.finetune", "--strategy", "multi_worker"], "num_workers"),
    (["--num_workers", "2", "--", "train.finetune", "--dataset", "folder"], "needs --strategy multi_worker"),
])
def test_the_launcher_refuses_what_would_not_be_a_cluster(arguments, message):
    result = subprocess.run([sys.executable, "-m", "train.launch_local", *arguments], cwd=ROOT, env=_env(),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and message in result.stderr, result.stderr[-2000:]
    assert "[worker" not in result.stdout  # nothing was started


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGHUP"])
def test_stopping_the_launcher_stops_its_workers_and_frees_the_run(tmp_path, stop):
    import signal

    folder = str(tmp_path / "run")
    launcher = subprocess.Popen([sys.executable, "-m", "train.launch_local", "--num_workers", "2", "--",
                                 "tests.lock_holder", "--strategy=multi_worker", folder], cwd=ROOT, env=_env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    holding = 0
    while holding < 2:
        line = launcher.stdout.readline()
        assert line, launcher.stderr.read()[-2000:]
        holding += line.endswith("holding\n")
    launcher.send_signal(getattr(signal, stop))
    assert launcher.wait(timeout=60) == 128 + getattr(signal, stop)
    for index in range(2):  # both locks are free at once: a relaunch with --resume is not refused
        run_state.RunLock(f"{folder}{index}").release()


@pytest.mark.slow
def test_a_batch_the_workers_cannot_share_is_one_line(setup, tmp_path):
    root, flags = setup
    result = subprocess.run([sys.executable, "-m", "train.launch_local", "--num_workers", "2", "--",
                             "train.finetune", *flags, "--batch_size", "9", "--strategy", "multi_worker",
                             "--out_dir", str(tmp_path / "run")], cwd=ROOT, env=_env(), capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 1, result.stdout[-3000:]
    assert "error: The global batch of 9 does not split evenly over 2 workers" in result.stdout, result.stdout[-3000:]
    assert "Traceback" not in result.stdout


def test_a_multi_worker_strategy_asked_for_after_tensorflow_started_is_one_line():
    """TensorFlow configures a cluster only before its first operation: `make_strategy` says what to
    do first rather than passing TensorFlow's RuntimeError on (what `AudioClassifier.fit` met when
    the classifier was built before the strategy)."""
    cluster = json.dumps({"cluster": {"worker": ["localhost:1", "localhost:2"]}, "task": {"type": "worker", "index": 0}})
    code = ("import tensorflow as tf; tf.constant(1.0)\n"
            "from keras_airn.training.distributed import make_strategy\n"
            "try:\n    make_strategy('multi_worker')\nexcept ValueError as error:\n    print(error)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(TF_CONFIG=cluster), capture_output=True,
                            text=True, timeout=120)
    assert "call keras_airn.training.distributed.make_strategy('multi_worker') first" in result.stdout, (
        result.stdout[-2000:], result.stderr[-2000:])
