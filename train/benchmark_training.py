"""End-to-end training throughput: clips/s through the training step, fed by the real pipeline.

For each model and worker count, one fresh run (workers started with `train.launch_local`)
trains on generated 10 s WAV files with the release's front-end (512 x 128 log-mel, SpecAugment)
and times steps after a warm-up; the same with synthetic in-memory features for one worker tells
whether training is data-bound (pipeline / synthetic well below 1) or compute-bound (about 1).

Usage: python -m train.benchmark_training [--models b0,b1] [--workers 1,2] [--batch_size 8] [--steps 4]
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TF C++ chatter; override to debug

from absl import app, flags  # noqa: E402

from keras_airn.network.model import VGGSOUND_CLASSES  # noqa: E402

MODELS = flags.DEFINE_list("models", ["b0", "b1"], "Presets to time.")
WORKERS = flags.DEFINE_list("workers", ["1", "2"], "Worker counts (processes on this machine).")
BATCH_SIZE = flags.DEFINE_integer("batch_size", 8, "Global batch size.")
STEPS = flags.DEFINE_integer("steps", 4, "Timed steps per run.")
WARMUP = flags.DEFINE_integer("warmup", 1, "Untimed steps first (tracing, pipeline start).")
CLIPS = flags.DEFINE_integer("clips", 48, "Generated recordings.")
# One run (internal): what each worker process executes.
RUN = flags.DEFINE_string("run", None, "Internal: time one run, 'MODEL:INPUT:DATA_DIR'.")


def _time_one_run(model_name: str, source: str, data_dir: str) -> None:
    import numpy as np
    import tensorflow as tf

    import keras_airn as ka
    from keras_airn.data.datasets import Example
    from keras_airn.data.features import FRONT_ENDS
    from keras_airn.training.distributed import (DistributedTrainer, is_chief, make_strategy,
                                                  synchronise_batchnorm, worker_role)
    from keras_airn.training.pipeline import train_dataset
    from keras_airn.training.trainer import TrainConfig, compile_model

    multi = worker_role()[1] > 1
    strategy = make_strategy("multi_worker" if multi else "default")
    front_end = FRONT_ENDS["vggsound"]
    batch, steps = BATCH_SIZE.value, WARMUP.value + STEPS.value
    examples = [Example(os.path.join(data_dir, name), i % 4) for i, name in enumerate(sorted(os.listdir(data_dir)))]
    with strategy.scope():
        model = ka.create_model(model_name, num_classes=VGGSOUND_CLASSES)
        synchronise_batchnorm(model)
        compile_model(model, TrainConfig(batch_size=batch), steps)

    def dataset(context: tf.distribute.InputContext) -> tf.data.Dataset:
        per_replica = context.get_per_replica_batch_size(batch)
        if source == "synthetic":
            features = np.random.default_rng(0).normal(-4, 2, (per_replica, front_end.num_frames, front_end.n_mels, 1))
            return tf.data.Dataset.from_tensors((features.astype("float32"), np.zeros(per_replica, "int32"))).repeat()
        data, _ = train_dataset(examples, front_end, batch_size=batch, seed=0, first_epoch=0,
                                epochs=-(-steps * batch // len(examples)) + 1,
                                shard=(context.input_pipeline_id, context.num_input_pipelines),
                                replica_batch_size=per_replica)
        return data

    iterator = iter(strategy.distribute_datasets_from_function(dataset))
    trainer = DistributedTrainer(model, strategy, batch)
    trainer.run_epoch(iterator, WARMUP.value)
    start = time.perf_counter()
    trainer.run_epoch(iterator, STEPS.value)
    seconds = time.perf_counter() - start
    if is_chief():
        print("RESULT " + json.dumps({"clips_per_s": STEPS.value * batch / seconds,
                                      "step_ms": 1000 * seconds / STEPS.value}), flush=True)


def _make_recordings(directory: str) -> None:
    import numpy as np
    import soundfile

    rng = np.random.default_rng(0)
    for index in range(CLIPS.value):
        audio = rng.uniform(-0.5, 0.5, 160000).astype(np.float32)
        soundfile.write(os.path.join(directory, f"{index:03d}.wav"), audio, 16000, subtype="PCM_16")


def _measure(model_name: str, source: str, workers: int, data_dir: str) -> dict:
    flags_for_run = [f"--run={model_name}:{source}:{data_dir}", f"--batch_size={BATCH_SIZE.value}",
                     f"--steps={STEPS.value}", f"--warmup={WARMUP.value}"]
    module = "train.benchmark_training"
    command = ([sys.executable, "-m", module, *flags_for_run] if workers == 1 else
               [sys.executable, "-m", "train.launch_local", f"--num_workers={workers}", "--", module, *flags_for_run])
    result = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ, CUDA_VISIBLE_DEVICES=""))
    found = re.search(r"RESULT (\{.*\})", result.stdout)
    if result.returncode or not found:
        raise RuntimeError(f"{model_name} x{workers} ({source}) failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return json.loads(found.group(1))


def main(argv):
    del argv
    if RUN.value:
        model_name, source, data_dir = RUN.value.split(":", 2)
        _time_one_run(model_name, source, data_dir)
        return
    from tqdm.auto import tqdm

    from keras_airn.machine import machine_description

    runs = [(m, "pipeline", int(w)) for m in MODELS.value for w in WORKERS.value] + \
           [(m, "synthetic", 1) for m in MODELS.value]
    rows = {}
    with tempfile.TemporaryDirectory() as data_dir:
        _make_recordings(data_dir)
        for model_name, source, workers in tqdm(runs, desc="runs", unit="run"):
            rows[model_name, source, workers] = _measure(model_name, source, workers, data_dir)
    print(f"Machine: {machine_description()}")
    print(f"Global batch {BATCH_SIZE.value}, {STEPS.value} timed steps after {WARMUP.value}, 512 x 128 log-mel "
          f"from 10 s 16 kHz WAV files (pipeline) or in memory (synthetic); one process per worker.")
    print("| model | workers | input | clips/s | step ms | vs 1 worker | pipeline / synthetic |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for (model_name, source, workers), row in rows.items():
        single = rows[model_name, "pipeline", 1]["clips_per_s"] if (model_name, "pipeline", 1) in rows else None
        scale = f"{row['clips_per_s'] / single:.2f}x" if single and source == "pipeline" else "-"
        synthetic = rows.get((model_name, "synthetic", 1))
        bound = (f"{row['clips_per_s'] / synthetic['clips_per_s']:.2f}" if synthetic and source == "pipeline"
                 and workers == 1 else "-")
        print(f"| {model_name} | {workers} | {source} | {row['clips_per_s']:.2f} | {row['step_ms']:.0f} | {scale} | "
              f"{bound} |")


if __name__ == "__main__":
    app.run(main)
