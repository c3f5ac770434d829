"""A run's checkpoints: the epoch's unit (model, optimizer, epoch, logs, RNG states) written at
its end, a run refused or resumed from the last one, and a run stopped at the first non-finite
loss with the last finite checkpoint kept.
"""

from __future__ import annotations

import os
import time

import keras
import numpy as np
from absl import logging

from keras_airn.data.labels import LABELS_FILE, save_labels
from keras_airn.errors import KerasAirnError
from keras_airn.network.loading import read_keras
from keras_airn.training import run_state
from keras_airn.training.run import Run


def seed_generators(model: keras.Model) -> dict:
    """The random-state generators of layers such as Dropout, by layer name."""
    return {
        layer.name: layer.seed_generator
        for layer in model._flatten_layers()
        if getattr(layer, "seed_generator", None) is not None
    }


class TrainingDiverged(KerasAirnError):
    """The loss stopped being finite: nothing after the last finite checkpoint is written."""


def diverged_message(out_dir: str, epoch: int, step: int | None) -> str:
    checkpoint = run_state.latest_checkpoint(out_dir)
    kept = (f"the last finite checkpoint (epoch {checkpoint[1]['epoch']}) is kept in {out_dir}" if checkpoint
            else "no checkpoint was written")
    at = f"epoch {epoch + 1}, step {step + 1}" if step is not None else f"epoch {epoch + 1}"
    return (f"the training loss became NaN or infinite at {at}: {kept} and no final model is written; "
            f"lower the learning rate.")


class EpochCheckpoint(keras.callbacks.Callback):
    """Writes the epoch's checkpoint unit: model and optimizer, epoch, logs and the RNG states
    (`.keras` files do not hold Dropout's seed state). Stops the run at the first non-finite
    loss, before anything of that epoch is written (`diverged` holds (epoch, step) then)."""

    def __init__(self, out_dir: str, last_epoch: int, every_minutes: float = 0.0):
        super().__init__()
        self.out_dir = out_dir
        self.last_epoch = last_epoch
        self.every_seconds = 60.0 * every_minutes
        self.diverged: tuple[int, int] | None = None
        self.epochs_done: int | None = None
        self._epoch = 0
        self._written = time.monotonic()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.diverged is None and not np.isfinite(float((logs or {}).get("loss", 0.0))):
            self.diverged = (self._epoch, batch)
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        due = (time.monotonic() - self._written >= self.every_seconds or epoch + 1 == self.last_epoch
               or self.model.stop_training)  # stopped early by a callback (EarlyStopping)
        if self.diverged is None:
            self.epochs_done = epoch + 1
        if self.diverged is None and due:
            write_checkpoint(self.out_dir, self.model, epoch + 1, logs)
            self._written = time.monotonic()


def write_checkpoint(out_dir: str, model: keras.Model, epochs_done: int, logs: dict | None) -> None:
    """The checkpoint unit after `epochs_done` epochs: the model, its logs and RNG states."""
    state = {
        "logs": {k: float(v) for k, v in (logs or {}).items()},
        "rng": {path: g.state.numpy().tolist() for path, g in seed_generators(model).items()},
    }
    run_state.write_checkpoint(out_dir, model, epochs_done, state)


def copy_rng(source: keras.Model, model: keras.Model) -> None:
    """Gives `model`'s random-state generators the states of `source`'s of the same names."""
    sources = seed_generators(source)
    for path, generator in seed_generators(model).items():
        generator.state.assign(sources[path].state.numpy())


def _restore_rng(model: keras.Model, state: dict) -> None:
    for path, generator in seed_generators(model).items():
        generator.state.assign(np.asarray(state["rng"][path], generator.state.dtype))


def _refuse_existing_run(out_dir: str, resume: bool):
    """Raises RunStateError when `out_dir` holds a run and `resume` is not set; returns the
    latest checkpoint (path, state) or None."""
    started = os.path.isfile(os.path.join(out_dir, run_state.RUN_CONFIG))
    checkpoint = run_state.latest_checkpoint(out_dir)
    if not resume and (started or checkpoint):
        at = f"a checkpoint at epoch {checkpoint[1]['epoch']}" if checkpoint else "no checkpoint yet"
        raise run_state.RunStateError(f"{out_dir} already holds a run ({at}); resume it (--resume, "
                                      f"resume=True) or choose another output folder.")
    return checkpoint


def check_out_dir(out_dir: str, resume: bool) -> None:
    """Refuses, before anything is written into `out_dir`, a folder another process is using or
    one holding a run when `resume` is not set (what `fit` refuses later, checked up front so that
    a refused run leaves the existing one's files as they were).

    Raises:
        RunStateError: naming the process or the run.
    """
    with run_state.RunLock(out_dir):
        _refuse_existing_run(out_dir, resume)


def resume_state(out_dir: str, resume: bool, settings: dict) -> tuple[keras.Model | None, int]:
    """Returns (checkpointed model with its optimizer and RNG states, next epoch), or (None, 0)
    to start from scratch.

    Refuses to start over an existing run unless `resume` is set (no work is lost), and a
    resume whose `settings` differ from the run's.
    """
    checkpoint = _refuse_existing_run(out_dir, resume)
    if not resume:
        return None, 0
    run_state.check_settings(out_dir, settings)
    if checkpoint is None:
        logging.info("%s has no checkpoint yet: starting at epoch 0.", out_dir)
        return None, 0
    model_path, state = checkpoint
    epoch = int(state["epoch"])
    model = read_keras(model_path, compile=True)
    _restore_rng(model, state)
    logging.info("Resuming %s at epoch %d.", out_dir, epoch)
    return model, epoch


def prepare_out_dir(out_dir: str) -> None:
    """The run folder with its checkpoint folder, cleared of files an interrupted write left."""
    os.makedirs(os.path.join(out_dir, run_state.CHECKPOINTS), exist_ok=True)
    run_state.remove_stale_files(out_dir)


def start_run(run: Run, settings: dict) -> None:
    """Writes what the run started from: its settings, front-end and labels."""
    run_state.save_settings(run.out_dir, settings)
    run.front_end.save(run.out_dir)
    save_labels(run.train_split.label_names, os.path.join(run.out_dir, LABELS_FILE))
