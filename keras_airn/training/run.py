"""One training run: what `trainer.fit` was given, the recipe resolved for its training set, and
what follows from them (epochs, steps, logs, settings a resume must match), carried as one object
through the loop, its checkpoints and the end-of-run evaluation.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from keras_airn.data.datasets import BAD_AUDIO_MODES, Split
from keras_airn.data.features import FrontEnd
from keras_airn.training import run_state
from keras_airn.training.bad_audio import BadAudioLog, bad_audio_report
from keras_airn.training.pipeline import train_dataset
from keras_airn.training.recipes import TrainConfig, make_optimizer


def shows_progress_bar(verbose) -> bool:
    """Whether `verbose` ("auto", 0, 1 or 2, as Keras's) draws a progress bar: as in Keras, "auto"
    and 1 do; 2 (a line per epoch) and 0 do not.

    Example:
    >>> [shows_progress_bar(verbose) for verbose in ("auto", 0, 1, 2)]
    [True, False, True, False]
    """
    return verbose in ("auto", 1)


def bad_audio_log(mode: str, out_dir: str | None, split_name: str) -> BadAudioLog | None:
    """The log a pipeline skips unusable audio into under `mode` "skip" (None under "fail").

    Args:
        mode: "skip" or "fail".
        out_dir: the run folder holding `bad_audio_<split_name>.txt`; None: nothing written.
        split_name: "train", "test", ...
    """
    if mode not in BAD_AUDIO_MODES:
        raise ValueError(f"bad_audio must be one of {BAD_AUDIO_MODES}, got {mode!r}.")
    if mode == "fail":
        return None
    return BadAudioLog(bad_audio_report(out_dir, split_name) if out_dir else None)


def run_settings(model, config: TrainConfig, front_end: FrontEnd, label_names, compiled: dict | None = None,
                 splits: dict | None = None) -> dict:
    """What a resume must match: the recipe (and a user's compiled optimizer, loss and metrics),
    the front-end, the labels, the network and the data (`splits`: {name: Split or None})."""
    ignored = ("eval_batch_size", "checkpoint_minutes")  # change no weight
    recipe = {k: v for k, v in config.record().items() if k not in ignored}
    network = {k: v for k, v in model.get_config().items() if k not in ("name", "trainable", "dtype")}
    settings = {"recipe": recipe, "front_end": front_end.to_config(), "labels": list(label_names), "network": network}
    if compiled:
        settings["compiled"] = compiled
    if splits:
        settings["data"] = {name: run_state.data_identity(split) for name, split in splits.items()}
    return settings


def metric_object(config) -> keras.metrics.Metric:
    """A compiled metric (a name or a serialised metric) as a metric object, "accuracy" and
    "acc" as Keras's compile resolves them for integer labels.

    Example:
    >>> type(metric_object("accuracy")).__name__, metric_object("acc").name
    ('SparseCategoricalAccuracy', 'acc')
    """
    if config in ("accuracy", "acc"):
        return keras.metrics.SparseCategoricalAccuracy(name=config)
    metric = keras.metrics.get(config) if isinstance(config, str) else keras.metrics.deserialize(config)
    if not isinstance(metric, keras.metrics.Metric):  # a function: named as compile names it
        metric = keras.metrics.MeanMetricWrapper(metric, name=config if isinstance(config, str) else metric.__name__)
    return metric


def compile_settings(optimizer, loss, metrics, num_classes: int) -> tuple[dict, keras.optimizers.Optimizer | None]:
    """`AudioClassifier.compile`'s arguments, checked and serialised as `compile_model` takes
    them; "auto" leaves the recipe's.

    Args:
        optimizer: "auto" or a Keras optimizer (name, config or object).
        loss: "auto" or a Keras loss on (integer labels, logits); tried on a batch first.
        metrics: "auto" or a list of Keras metrics.
        num_classes: the network's outputs.

    Returns:
        (the serialised settings given, the optimizer object or None).
    """
    compiled, given = {}, None
    if not (isinstance(optimizer, str) and optimizer == "auto"):
        given = keras.optimizers.get(optimizer)
        compiled["optimizer"] = keras.optimizers.serialize(given)
    if not (isinstance(loss, str) and loss == "auto"):
        loss = keras.losses.get(loss)
        probe = num_classes + 1  # a batch unlike the classes, or (b,) and (b, b) broadcast
        try:  # what training and evaluate give it: integer labels and logits
            loss(np.arange(probe) % num_classes, np.zeros((probe, num_classes), np.float32))
        except (ValueError, TypeError, tf.errors.InvalidArgumentError) as error:
            raise ValueError(f"The loss {getattr(loss, 'name', loss)!r} cannot take integer labels and logits "
                             f"(batch, {num_classes}): {str(error).splitlines()[0][:200]}") from error
        compiled["loss"] = keras.losses.serialize(loss)
    if not (isinstance(metrics, str) and metrics == "auto"):
        if isinstance(metrics, (str, keras.metrics.Metric)) or not isinstance(metrics, (list, tuple)):
            raise TypeError(f"metrics must be 'auto' or a list of Keras metrics, got {metrics!r}.")
        compiled["metrics"] = [m if isinstance(m, str) else keras.metrics.serialize(m) for m in metrics]
    return compiled, given


def compile_model(model, config: TrainConfig, steps_per_epoch: int, compiled: dict | None = None) -> None:
    """Compiles `model` with the recipe's optimizer, cross-entropy on logits and accuracy.

    Args:
        model: the network.
        config: a resolved recipe.
        steps_per_epoch: optimizer steps per epoch (the LR schedule's).
        compiled: serialised "optimizer", "loss" and/or "metrics" used instead of the recipe's
            (`AudioClassifier.compile`); each is built afresh in the current strategy scope.
    """
    compiled = compiled or {}
    optimizer = (keras.optimizers.get(compiled["optimizer"]) if "optimizer" in compiled
                 else make_optimizer(config, steps_per_epoch))
    loss = (keras.losses.get(compiled["loss"]) if "loss" in compiled
            else keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    # Built here, not in the first step: a variable made while `fit` traces its step makes
    # TensorFlow trace the step twice (seconds to tens of seconds, every run and resume).
    metrics = [metric_object(config) for config in compiled.get("metrics", ["accuracy"])]
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    model.optimizer.build(model.trainable_variables)


@dataclasses.dataclass
class TrainResult:
    """What `fit` returns: the trained model (after precise BN) and the run's summary."""

    model: keras.Model
    summary: dict


@dataclasses.dataclass
class Run:
    """One run of `trainer.fit`, its arguments as given there; `config` is resolved for the
    training set (`TrainConfig.resolved`) and `verbose` "auto" made 1 (2 under CI).

    `chief`: whether this process writes the run's files (a multi-worker run's worker 0).
    """

    build_model: Callable[[], keras.Model]
    train_split: Split
    eval_split: Split | None
    front_end: FrontEnd
    config: TrainConfig
    out_dir: str
    resume: bool = False
    strategy: str = "default"
    stop_after_epoch: int | None = None
    bad_audio: str = "skip"
    callbacks: Sequence[keras.callbacks.Callback] = ()
    compiled: dict | None = None
    verbose: str | int = "auto"
    chief: bool = True

    def __post_init__(self):
        self.config = self.config.resolved(len(self.train_split.examples))
        bad_audio_log(self.bad_audio, None, "train")  # the mode checked before anything runs
        self.callbacks = list(self.callbacks)
        self.compiled = self.compiled or None
        if self.verbose == "auto":
            self.verbose = 2 if os.environ.get("CI") else 1

    @property
    def last_epoch(self) -> int:
        """The epoch this call stops after (`stop_after_epoch` cuts the recipe's short)."""
        epochs = self.config.epochs
        return epochs if self.stop_after_epoch is None else min(epochs, self.stop_after_epoch)

    @property
    def steps(self) -> int:
        """Optimizer steps per epoch (each epoch drops the remainder of a batch)."""
        return len(self.train_split.examples) // self.config.batch_size

    @property
    def precise_bn_each_epoch(self) -> bool:
        """Precise BN after every epoch; "mirrored" runs re-estimate once, at the end."""
        config = self.config
        return bool(config.precise_bn_batches and config.precise_bn_each_epoch and self.strategy != "mirrored")

    def stops_early(self, epochs_done: int) -> bool:
        """Whether `epochs_done` ends this call before the recipe's last epoch (resume later);
        if so, says so (the chief)."""
        early = epochs_done == self.last_epoch and self.last_epoch < self.config.epochs
        if early and self.chief:
            logging.info("Stopped after epoch %d of %d (stop_after_epoch): resume the run in %s to go on "
                         "(--resume, resume=True).", epochs_done, self.config.epochs, self.out_dir)
        return early

    def bad_audio_log(self, split_name: str) -> BadAudioLog | None:
        """`bad_audio_log` of a split of this run, written by the chief only."""
        return bad_audio_log(self.bad_audio, self.out_dir if self.chief else None, split_name)

    def settings(self, model: keras.Model) -> dict:
        """`run_settings` of this run and its network."""
        return run_settings(model, self.config, self.front_end, self.train_split.label_names, self.compiled,
                            {"train": self.train_split, "test": self.eval_split})

    def train_data(self, first_epoch: int, **pipeline) -> tf.data.Dataset:
        """The training batches of epochs [first_epoch, last_epoch) (`pipeline.train_dataset`;
        `pipeline`: its `shard` and `replica_batch_size`)."""
        config = self.config
        dataset, _ = train_dataset(
            self.train_split.examples, self.front_end, batch_size=config.batch_size, seed=config.seed,
            first_epoch=first_epoch, epochs=self.last_epoch, **config.augmentation(self.front_end.num_frames),
            bad_audio=self.bad_audio_log("train"), **pipeline)
        return dataset
