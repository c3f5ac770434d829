"""Seconds to a training run's first optimizer step (tracing and graph optimisation of the step)
and of the step after it: the figures behind "Where the time goes" in docs/measurements.md.

B0 (10 classes, 1 s crops, batch 32) on 64 generated noise clips, through `trainer.fit` with a
named recipe. Run it at two commits to compare them.

Usage:
  .venv/bin/python scripts/first_step_time.py [--recipe small_data|release]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras  # noqa: E402
import numpy as np  # noqa: E402
import soundfile  # noqa: E402

import keras_airn as ka  # noqa: E402
from keras_airn.training.recipes import RECIPES, recipe  # noqa: E402
from keras_airn.training.trainer import fit  # noqa: E402


class StepTimes(keras.callbacks.Callback):
    """Seconds from the start of training to the end of the first step, and of the second step."""

    def on_train_begin(self, logs=None):
        self.start, self.ends = time.perf_counter(), []

    def on_train_batch_end(self, batch, logs=None):
        self.ends.append(time.perf_counter())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", choices=RECIPES, default="small_data")
    args = parser.parse_args()
    root = tempfile.mkdtemp()
    rng = np.random.default_rng(0)
    examples = []
    for index in range(64):
        path = os.path.join(root, f"{index}.wav")
        soundfile.write(path, (0.1 * rng.standard_normal(16000)).astype(np.float32), 16000)
        examples.append(ka.Example(path, index % 10))
    config = dataclasses.replace(recipe(args.recipe, finetuning=False), epochs=1, lr_steps=(), precise_bn_batches=0)
    times = StepTimes()
    fit(lambda: ka.create_model("b0", num_classes=10, num_frames=None), ka.Split(examples, list("0123456789")),
        None, ka.FrontEnd(clip_seconds=1.0), config, os.path.join(root, "run"), callbacks=[times], verbose=0)
    print(f"{args.recipe}: first step {times.ends[0] - times.start:.1f} s, "
          f"second step {times.ends[1] - times.ends[0]:.2f} s")


if __name__ == "__main__":
    main()
