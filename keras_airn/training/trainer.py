"""Training loop shared by `train.vggsound`, `train.finetune` and `AudioClassifier.fit`.

Checkpoints every epoch (model, optimizer state, epoch, RNG states) as one atomic unit and
resumes exactly: the data of each epoch depends only on (seed, epoch), see `pipeline`. The run
folder is locked for the run and a resume must use the run's settings (`run_state`). Evaluates
with multi-view averaging after precise-BN re-estimation and saves train-form and deploy
`.keras` files with a label map.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import time
from typing import Sequence

import keras
import numpy as np
import tensorflow as tf
from absl import logging
from tqdm.auto import tqdm

from keras_airn import files
from keras_airn.data.datasets import BAD_AUDIO_MODES, Split
from keras_airn.network.deploy import reparameterize
from keras_airn.errors import KerasAirnError
from keras_airn.data.features import FrontEnd
from keras_airn.data.labels import LABELS_FILE, save_labels
from keras_airn.network.loading import read_keras
from keras_airn.network.model import AudioRepInceptionNeXt
from keras_airn.inference.runtime import softmax
from keras_airn.training import interrupt, run_state
from keras_airn.training.bad_audio import BadAudioLog, bad_audio_report
from keras_airn.training.distributed import (
    DistributedTrainer,
    copy_state,
    make_strategy,
    replicate,
    synchronise_batchnorm,
    worker_role,
)
from keras_airn.training.metrics import average_views, classification_metrics
from keras_airn.training.pipeline import eval_dataset, train_dataset
from keras_airn.training.precise_bn import recompute_batchnorm_statistics
from keras_airn.training.recipes import TrainConfig, make_optimizer
from keras_airn.training.selection import SelectBest, random_crop_top1, restore_best


def shows_progress_bar(verbose) -> bool:
    """Whether `verbose` ("auto", 0, 1 or 2, as Keras's) draws a progress bar: as in Keras, "auto"
    and 1 do; 2 (a line per epoch) and 0 do not.

    Example:
    >>> [shows_progress_bar(verbose) for verbose in ("auto", 0, 1, 2)]
    [True, False, True, False]
    """
    return verbose in ("auto", 1)


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


def _seed_generators(model: keras.Model) -> dict:
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
            _write_checkpoint(self.out_dir, self.model, epoch + 1, logs)
            self._written = time.monotonic()


def _write_checkpoint(out_dir: str, model: keras.Model, epochs_done: int, logs: dict | None) -> None:
    state = {
        "logs": {k: float(v) for k, v in (logs or {}).items()},
        "rng": {path: g.state.numpy().tolist() for path, g in _seed_generators(model).items()},
    }
    run_state.write_checkpoint(out_dir, model, epochs_done, state)


def _restore_rng(model: keras.Model, state: dict) -> None:
    for path, generator in _seed_generators(model).items():
        generator.state.assign(np.asarray(state["rng"][path], generator.state.dtype))


def run_settings(model, config: TrainConfig, front_end: FrontEnd, label_names, compiled: dict | None = None,
                 splits: dict | None = None) -> dict:
    """What a resume must match: the recipe (and a user's compiled optimizer, loss and metrics),
    the front-end, the labels, the network and the data (`splits`: {name: Split or None})."""
    ignored = ("eval_batch_size", "checkpoint_minutes")  # change no weight
    recipe = {k: v for k, v in dataclasses.asdict(config).items() if k not in ignored}
    network = {k: v for k, v in model.get_config().items() if k not in ("name", "trainable", "dtype")}
    settings = {"recipe": recipe, "front_end": front_end.to_config(), "labels": list(label_names), "network": network}
    if compiled:
        settings["compiled"] = compiled
    if splits:
        settings["data"] = {name: run_state.data_identity(split) for name, split in splits.items()}
    return settings


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


def evaluate(model, split: Split, front_end: FrontEnd, config: TrainConfig,
             bad_audio: BadAudioLog | None = None, *, compiled: dict | None = None, verbose="auto") -> dict[str, float]:
    """Multi-view evaluation: softmax averaged over evenly spaced crops of each example.

    Args:
        model: the network (spectrogram input).
        split: the examples.
        front_end: their settings.
        config: `eval_views` and `eval_batch_size`.
        bad_audio: where unreadable examples are listed; they are left out of the metrics
            (`skipped_examples` counts them). None: they end the evaluation.
        compiled: a user's serialised loss and metrics (`compile_model`), computed on the log of
            the averaged probabilities (the "loss" entry is then the user's loss).
        verbose: as Keras's: 0 and 2 hide the progress bar.

    Returns:
        `classification_metrics` of the examples, then the compiled metrics by name.
    """
    dataset = eval_dataset(
        split.examples, front_end, batch_size=config.eval_batch_size, views=config.eval_views, bad_audio=bad_audio
    )
    probabilities, labels, indices = [], [], []
    views = config.eval_views or front_end.eval_views
    total = -(-len(split.examples) * views // config.eval_batch_size)
    for features, label, index in tqdm(dataset, total=total, desc="evaluating", unit="batch", leave=False,
                                       disable=not shows_progress_bar(verbose)):
        probabilities.append(softmax(model.predict_on_batch(features)))  # Keras's cached predict function
        labels.append(label.numpy())
        indices.append(index.numpy())
    per_example, per_example_labels = average_views(
        np.concatenate(probabilities), np.concatenate(indices), np.concatenate(labels)
    )
    result = {}
    if bad_audio is not None and bad_audio.paths:
        skipped = set(bad_audio.paths)
        kept = np.array([example.path not in skipped for example in split.examples])
        if not kept.any():
            raise KerasAirnError(f"None of the {len(kept)} evaluation examples has usable audio.")
        per_example, per_example_labels = per_example[kept], per_example_labels[kept]
        result["skipped_examples"] = int((~kept).sum())
    metrics = classification_metrics(per_example, per_example_labels)
    return {**metrics, **compiled_metrics(compiled, per_example, per_example_labels), **result}


def compiled_metrics(compiled: dict | None, probabilities: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """A user's compiled loss ("loss") and metrics (by name) of averaged probabilities, given
    as logits log(p) as the network's outputs are logits."""
    compiled = compiled or {}
    logits = np.log(np.maximum(probabilities, np.finfo(np.float32).tiny)).astype(np.float32)
    result = {}
    if "loss" in compiled:
        result["loss"] = float(keras.losses.get(compiled["loss"])(labels, logits))  # checked by compile()
    for config in compiled.get("metrics", []):
        metric = metric_object(config)
        metric.update_state(labels, logits)
        result[metric.name] = float(metric.result())
    return result


@dataclasses.dataclass
class TrainResult:
    """What `fit` returns: the trained model (after precise BN) and the run's summary."""

    model: keras.Model
    summary: dict


def check_fit_options(config: TrainConfig, eval_split, strategy: str = "default", compiled: dict | None = None):
    """Refuses options `fit` cannot honour together, before anything is read or written.

    Args:
        config: the recipe.
        eval_split: the validation (test) `Split`, or None.
        strategy: "default", "mirrored" or "multi_worker".
        compiled: a user's serialised "optimizer", "loss" and/or "metrics", or None.

    Raises:
        KerasAirnError: naming the option and what it needs.
    """
    if config.select_best and eval_split is None:
        raise KerasAirnError("select_best picks the epoch with the best validation top-1: it needs validation "
                             "(test) data.")
    if strategy == "multi_worker":
        if config.select_best:
            raise KerasAirnError("select_best runs on the 'default' and 'mirrored' strategies only.")
        if compiled and set(compiled) - {"optimizer"}:
            raise KerasAirnError("strategy='multi_worker' trains with cross-entropy and accuracy: compile() a "
                                 "loss or metrics for the 'default' or 'mirrored' strategies only.")


def fit(
    build_model,
    train_split: Split,
    eval_split: Split | None,
    front_end: FrontEnd,
    config: TrainConfig,
    out_dir: str,
    *,
    resume: bool = False,
    strategy: str = "default",
    stop_after_epoch: int | None = None,
    bad_audio: str = "skip",
    callbacks: Sequence[keras.callbacks.Callback] = (),
    compiled: dict | None = None,
    verbose="auto",
) -> TrainResult:
    """Trains, evaluates and saves a model.

    Args:
        build_model: zero-argument callable returning a fresh (uncompiled) model; called inside
            the distribution strategy's scope.
        train_split: training examples and label names.
        eval_split: held-out examples, or None.
        front_end: clip and feature settings.
        config: hyper-parameters (`TrainConfig.resolved` for this training set is what runs).
        out_dir: run directory (checkpoints, logs, final models).
        resume: continue the run in `out_dir`.
        strategy: "default", "mirrored" (local devices) or "multi_worker" (the workers `TF_CONFIG`
            names, see `distributed`); the last two synchronise BatchNorm over the replicas.
        stop_after_epoch: stop after this many epochs have run (to split a run in parts).
        bad_audio: "skip": a crop or evaluation clip that cannot be used (NaN/Inf samples, a file
            changed since the start-of-run check) is listed in `bad_audio_<train|test>.txt` and
            left out; "fail": the run stops naming the file.
        callbacks: Keras callbacks run with the training loop's; one that sets the model's
            `stop_training` (EarlyStopping) ends training after that epoch, and the run finishes
            (precise BN, files, evaluation) from there.
        compiled: a user's optimizer, loss and metrics instead of the recipe's (`compile_model`).
        verbose: "auto" (a progress bar, one line an epoch under CI), 0, 1 or 2, as Keras's.

    Returns:
        A `TrainResult`: the model and the summary (epochs run, metrics, output paths; also
        written to `out_dir/summary.json` when the run is complete).
    """
    config = config.resolved(len(train_split.examples))
    bad_audio_log(bad_audio, None, "train")  # the mode checked before anything runs
    if verbose == "auto":
        verbose = 2 if os.environ.get("CI") else 1
    options = dict(resume=resume, stop_after_epoch=stop_after_epoch, bad_audio=bad_audio, callbacks=list(callbacks),
                   compiled=compiled or None, verbose=verbose)
    check_fit_options(config, eval_split, strategy, compiled)
    if strategy == "multi_worker":
        return _fit_multi_worker(build_model, train_split, eval_split, front_end, config, out_dir, **options)
    with run_state.RunLock(out_dir):
        return _fit_locked(build_model, train_split, eval_split, front_end, config, out_dir, strategy=strategy,
                           **options)


def _start_run(out_dir: str, settings: dict, front_end: FrontEnd, label_names) -> None:
    run_state.save_settings(out_dir, settings)
    front_end.save(out_dir)
    save_labels(label_names, os.path.join(out_dir, LABELS_FILE))


def _fit_multi_worker(build_model, train_split, eval_split, front_end, config, out_dir, *, resume,
                      stop_after_epoch, bad_audio, callbacks, compiled, verbose) -> TrainResult:
    """`fit` on every worker of a `TF_CONFIG` cluster; only the chief (worker 0) writes."""
    distribution = make_strategy("multi_worker")  # first: collectives are configured at startup
    index, workers = worker_role()
    chief = index == 0
    if config.batch_size % workers:
        raise KerasAirnError(f"The global batch of {config.batch_size} does not split evenly over {workers} workers; "
                             f"give a --batch_size (batch_size=) that {workers} divides.")
    last_epoch = config.epochs if stop_after_epoch is None else min(config.epochs, stop_after_epoch)
    with run_state.RunLock(out_dir) if chief else contextlib.nullcontext():
        if chief:
            os.makedirs(os.path.join(out_dir, run_state.CHECKPOINTS), exist_ok=True)
            run_state.remove_stale_files(out_dir)
        steps = len(train_split.examples) // config.batch_size
        fresh, model, settings, first_epoch = _replicas(build_model, distribution, train_split, eval_split,
                                                        front_end, config, out_dir, resume, chief, steps, compiled)
        first_epoch = min(first_epoch, last_epoch)

        dataset = distribution.distribute_datasets_from_function(functools.partial(
            _worker_input, train_split.examples, front_end, config, first_epoch, last_epoch,
            bad_audio_log(bad_audio, out_dir if chief else None, "train")))
        if chief:
            _start_run(out_dir, settings, front_end, train_split.label_names)
        logging.info("Worker %d of %d: %d replicas in sync, epochs %d-%d.", index, workers,
                     distribution.num_replicas_in_sync, first_epoch, last_epoch)
        trainer = DistributedTrainer(model, distribution, config.batch_size)
        iterator = iter(dataset)
        writer = tf.summary.create_file_writer(os.path.join(out_dir, "logs", "train")) if chief else None
        user_callbacks = keras.callbacks.CallbackList(callbacks, model=model)
        epochs_done = last_epoch
        each_epoch = bool(config.precise_bn_batches and config.precise_bn_each_epoch)
        for epoch in range(first_epoch, last_epoch):
            user_callbacks.on_epoch_begin(epoch)
            progress = keras.utils.Progbar(steps, stateful_metrics=["loss", "accuracy"],
                                           verbose=verbose if chief else 0)
            print(f"Epoch {epoch + 1}/{last_epoch}") if chief else None
            with interrupt.between_steps():
                logs = trainer.run_epoch(iterator, steps, progress, after_step=lambda step, epoch=epoch: (
                    run_state.fault_point(f"worker{index}_step", epoch * steps + step),
                    interrupt.raise_if_requested()))
            if not np.isfinite(float(logs.get("loss", 0.0))):  # every worker sees the same reduced loss
                raise TrainingDiverged(diverged_message(out_dir, epoch, None))
            if each_epoch:  # every worker the same, on a local copy: all of the epoch's precise-BN batches
                fresh.set_weights(model.get_weights())
                estimate_precise_bn(fresh, train_split, front_end, config, epoch, steps,
                                   bad_audio_log(bad_audio, out_dir if chief else None, "train"),
                                   verbose=verbose if chief else 0)
                model.set_weights(fresh.get_weights())
            if chief:
                progress.update(steps, list(logs.items()), finalize=True)
                _write_checkpoint(out_dir, model, epoch + 1, logs)
                _write_summaries(writer, epoch, logs)
            user_callbacks.on_epoch_end(epoch, logs)
            if model.stop_training:  # every worker's callbacks see the same reduced logs
                epochs_done = epoch + 1
                break
        summary = {"epochs": epochs_done, "out_dir": out_dir, "workers": workers}
        if (epochs_done == last_epoch and last_epoch < config.epochs) or not chief:
            return TrainResult(model, summary)
        fresh.set_weights(model.get_weights())  # the rest runs on the chief alone
        return _finish(fresh, train_split, eval_split, front_end, config, out_dir, steps, summary, bad_audio,
                       compiled, precise_bn_done=each_epoch, verbose=verbose)


def _worker_input(examples, front_end, config, first_epoch, last_epoch, bad_audio, context) -> tf.data.Dataset:
    """This worker's shard of the training data, batched per replica."""
    dataset, _ = train_dataset(
        examples, front_end, batch_size=config.batch_size, seed=config.seed, first_epoch=first_epoch,
        epochs=last_epoch, **config.augmentation(front_end.num_frames),
        shard=(context.input_pipeline_id, context.num_input_pipelines),
        replica_batch_size=context.get_per_replica_batch_size(config.batch_size), bad_audio=bad_audio)
    return dataset


def _write_summaries(writer, epoch: int, logs: dict) -> None:
    """The epoch's logs as TensorBoard scalars `epoch_<name>`."""
    with writer.as_default(step=epoch):
        for name, value in logs.items():
            tf.summary.scalar(f"epoch_{name}", value)


def _replicas(build_model, distribution, train_split, eval_split, front_end, config, out_dir, resume, chief, steps,
              compiled):
    """(a local model, its replicated copy, the run's settings, the first epoch): built, compiled
    and, when resuming, restored from the last checkpoint with its RNG states. The chief refuses
    to start over an existing run; the other workers only read a checkpoint."""
    keras.utils.set_random_seed(config.seed)
    fresh = build_model()
    settings = run_settings(fresh, config, front_end, train_split.label_names, compiled,
                            {"train": train_split, "test": eval_split})
    checkpoint, first_epoch = resume_state(out_dir, resume, settings) if chief or resume else (None, 0)
    with distribution.scope():
        model = replicate(fresh)
        synchronise_batchnorm(model)
        compile_model(model, config, steps, compiled)
        copy_state(checkpoint or fresh, model)
        if checkpoint is not None:  # its RNG states, restored by resume_state
            sources = _seed_generators(checkpoint)
            for path, generator in _seed_generators(model).items():
                generator.state.assign(sources[path].state.numpy())
    return fresh, model, settings, first_epoch


def _fit_locked(build_model, train_split, eval_split, front_end, config, out_dir, *, resume, strategy,
                stop_after_epoch, bad_audio, callbacks, compiled, verbose) -> TrainResult:
    os.makedirs(os.path.join(out_dir, run_state.CHECKPOINTS), exist_ok=True)
    run_state.remove_stale_files(out_dir)
    last_epoch = config.epochs if stop_after_epoch is None else min(config.epochs, stop_after_epoch)
    distribution = make_strategy(strategy)
    with distribution.scope():
        keras.utils.set_random_seed(config.seed)
        fresh = build_model()
        settings = run_settings(fresh, config, front_end, train_split.label_names, compiled,
                            {"train": train_split, "test": eval_split})
        model, first_epoch = resume_state(out_dir, resume, settings)
        dataset, steps = train_dataset(
            train_split.examples, front_end, batch_size=config.batch_size, seed=config.seed,
            first_epoch=min(first_epoch, last_epoch), epochs=last_epoch, **config.augmentation(front_end.num_frames),
            bad_audio=bad_audio_log(bad_audio, out_dir, "train"),
        )
        if model is None:
            model = fresh
            compile_model(model, config, steps, compiled)
        if strategy != "default":
            synchronise_batchnorm(model)
    _start_run(out_dir, settings, front_end, train_split.label_names)
    epochs_done = last_epoch
    # Every epoch under the default strategy; under "mirrored" once, at the end.
    each_epoch = bool(config.precise_bn_batches and config.precise_bn_each_epoch and strategy == "default")
    if first_epoch < last_epoch:
        checkpoints = EpochCheckpoint(out_dir, last_epoch, config.checkpoint_minutes)
        if config.select_best:  # after the epoch's precise BN, before its checkpoint
            callbacks = [SelectBest(out_dir, lambda epoch: random_crop_top1(
                model, eval_split, front_end, config.seed + 2, epoch, config.eval_batch_size),
                config.eval_period, last_epoch), *callbacks]
        if each_epoch:  # a log read afresh each time: it knows what training listed meanwhile
            callbacks = [EpochPreciseBN(lambda epoch: estimate_precise_bn(
                model, train_split, front_end, config, epoch, steps, bad_audio_log(bad_audio, out_dir, "train"),
                verbose=verbose)),
                *callbacks]
        with interrupt.between_steps():
            model.fit(
                dataset,
                epochs=last_epoch,
                initial_epoch=first_epoch,
                steps_per_epoch=steps,
                callbacks=[interrupt.StopOnInterrupt(), *callbacks, checkpoints,
                           keras.callbacks.TensorBoard(os.path.join(out_dir, "logs"))],
                verbose=verbose,
                shuffle=False,  # the pipeline shuffles, statelessly per (seed, epoch)
            )
        if checkpoints.diverged is not None:
            raise TrainingDiverged(diverged_message(out_dir, *checkpoints.diverged))
        epochs_done = checkpoints.epochs_done or first_epoch
    summary = {"epochs": epochs_done, "out_dir": out_dir}
    if epochs_done == last_epoch and last_epoch < config.epochs:
        return TrainResult(model, summary)  # a partial run: resume later
    return _finish(model, train_split, eval_split, front_end, config, out_dir, steps, summary, bad_audio, compiled,
                   precise_bn_done=each_epoch, verbose=verbose)


def estimate_precise_bn(model, train_split, front_end, config: TrainConfig, epoch: int, steps: int,
                        bad_audio: BadAudioLog | None, verbose="auto") -> int:
    """The release's precise BN after `epoch`: at most `config.precise_bn_batches` augmented
    training batches, at most one pass (`min(NUM_BATCHES_PRECISE, len(loader))`), drawn as an
    epoch of the pipeline with seed `config.seed + 1` (a function of the epoch: resume stays
    exact). Returns the batches used; `verbose` as Keras's (`shows_progress_bar`)."""
    data, _ = train_dataset(train_split.examples, front_end, batch_size=config.batch_size, seed=config.seed + 1,
                            first_epoch=epoch, epochs=epoch + 1, **config.augmentation(front_end.num_frames),
                            bad_audio=bad_audio)
    return recompute_batchnorm_statistics(model, data, min(config.precise_bn_batches, steps),
                                          progress=shows_progress_bar(verbose))


class EpochPreciseBN(keras.callbacks.Callback):
    """Precise BN at the end of every epoch, before the checkpoint and any evaluation, as the
    release re-estimates BatchNorm statistics at every checkpoint epoch."""

    def __init__(self, estimate):
        super().__init__()
        self.estimate = estimate  # epoch -> batches used

    def on_epoch_end(self, epoch, logs=None):
        if np.isfinite(float((logs or {}).get("loss", 0.0))):
            self.estimate(epoch)


def _finish(model, train_split, eval_split, front_end, config, out_dir, steps, summary, bad_audio,
            compiled=None, precise_bn_done=False, verbose="auto") -> TrainResult:
    """After the last epoch: precise BN (unless every epoch had it), the train-form and deploy
    files, evaluation, summary. With `config.select_best`, all of it on the best epoch's weights."""
    if config.select_best:
        best = restore_best(model, out_dir)
        summary["selected_epoch"] = best["epoch"]
        summary["selection_top1"] = best["top1"]
        logging.info("Selected epoch %d (validation top-1 %.4f on one random crop per clip).",
                     best["epoch"], best["top1"])
    if precise_bn_done:  # after every epoch, each over the same number of batches
        summary["precise_bn_batches"] = min(config.precise_bn_batches, steps)
    elif config.precise_bn_batches:
        summary["precise_bn_batches"] = estimate_precise_bn(model, train_split, front_end, config,
                                                            summary["epochs"] - 1, steps,
                                                            bad_audio_log(bad_audio, out_dir, "train"), verbose)
    paths = {"train_model": os.path.join(out_dir, "model_train.keras")}
    files.save_model(model, paths["train_model"])
    deploy = reparameterize(model) if isinstance(model, AudioRepInceptionNeXt) else None
    if deploy is not None:
        paths["deploy_model"] = os.path.join(out_dir, "model_deploy.keras")
        files.save_model(deploy, paths["deploy_model"])
    summary["paths"] = paths
    if eval_split is not None:
        summary["metrics"] = evaluate(deploy or model, eval_split, front_end, config,
                                      bad_audio_log(bad_audio, out_dir, "test"), compiled=compiled, verbose=verbose)
        logging.info("Evaluation: %s", summary["metrics"])
    files.write_json(os.path.join(out_dir, "summary.json"), summary)
    return TrainResult(model, summary)
