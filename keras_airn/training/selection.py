"""Model selection as the release does it: keep the epoch with the best validation top-1.

The release (tools/train_net.py) validates every `TRAIN.EVAL_PERIOD` epochs (2 in every config)
and after the last, on one random crop of each validation clip with no augmentation, after that
epoch's precise BN, writes `checkpoint_best.pyth` when top-1 beats every earlier validation,
and tests that checkpoint. Its validation list is its test list.
"""

from __future__ import annotations

import json
import os

import keras
import numpy as np

from keras_airn.data.datasets import Split
from keras_airn.data.features import FrontEnd
from keras_airn.training.pipeline import train_dataset
from keras_airn.training.run_state import CHECKPOINTS

BEST_WEIGHTS = os.path.join(CHECKPOINTS, "best.weights.h5")
BEST_RECORD = os.path.join(CHECKPOINTS, "best.json")


def random_crop_top1(model: keras.Model, split: Split, front_end: FrontEnd, seed: int, epoch: int,
                     batch_size: int = 32) -> float:
    """Top-1 of `model` on one random crop of every example of `split`, no augmentation (the
    release's validation); the crops are a function of (seed, epoch).

    Args:
        model: the network (spectrogram input).
        split: validation examples.
        front_end: their settings.
        seed, epoch: pick the crops.
        batch_size: crops per prediction batch.

    Returns:
        The share of examples whose crop is classified right.
    """
    crops, _ = train_dataset(split.examples, front_end, batch_size=1, seed=seed, first_epoch=epoch,
                             epochs=epoch + 1, augment=None)
    right = total = 0
    for features, labels in crops.unbatch().batch(batch_size):
        predicted = np.argmax(model.predict_on_batch(features), axis=-1)
        right += int(np.sum(predicted == labels.numpy()))
        total += len(predicted)
    return right / total


def best_epoch(out_dir: str) -> dict | None:
    """{"epoch": 1-based, "top1": ...} of the run's best validation so far, or None."""
    path = os.path.join(out_dir, BEST_RECORD)
    if not os.path.isfile(path):
        return None
    with open(path) as handle:
        return json.load(handle)


class SelectBest(keras.callbacks.Callback):
    """Validates after every `period`-th epoch and the last (after any precise BN: list it after
    `EpochPreciseBN`), keeping the weights of the best top-1 in `out_dir` (a strictly better
    top-1 replaces them, as the release's `<` on its top-1 error)."""

    def __init__(self, out_dir: str, validate, period: int, last_epoch: int):
        super().__init__()
        self.out_dir, self.validate, self.period, self.last_epoch = out_dir, validate, period, last_epoch

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.period and epoch + 1 != self.last_epoch and not self.model.stop_training:
            return
        top1 = self.validate(epoch)
        if logs is not None:
            logs["selection_top1"] = top1
        best = best_epoch(self.out_dir)
        if best is None or top1 > best["top1"]:
            self.model.save_weights(os.path.join(self.out_dir, BEST_WEIGHTS))
            with open(os.path.join(self.out_dir, BEST_RECORD), "w") as handle:
                json.dump({"epoch": epoch + 1, "top1": top1}, handle)


def restore_best(model: keras.Model, out_dir: str) -> dict | None:
    """Loads the best epoch's weights into `model`; returns its record (None: none kept)."""
    best = best_epoch(out_dir)
    if best is not None:
        model.load_weights(os.path.join(out_dir, BEST_WEIGHTS))
    return best
