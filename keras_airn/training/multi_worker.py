"""`trainer.fit` on every worker of a `TF_CONFIG` cluster (`strategy="multi_worker"`), driven by
`distributed.DistributedTrainer`'s step; only the chief (worker 0) writes the run's files, and it
alone finishes the run (precise BN, files, evaluation).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from keras_airn.errors import KerasAirnError
from keras_airn.training import interrupt, run_state
from keras_airn.training.checkpoints import (
    TrainingDiverged,
    copy_rng,
    diverged_message,
    prepare_out_dir,
    resume_state,
    start_run,
    write_checkpoint,
)
from keras_airn.training.distributed import (
    DistributedTrainer,
    copy_state,
    make_strategy,
    replicate,
    synchronise_batchnorm,
    worker_role,
)
from keras_airn.training.evaluation import finish, precise_bn
from keras_airn.training.run import Run, TrainResult, compile_model


def fit_multi_worker(run: Run) -> TrainResult:
    """`fit` of `run` on this worker of the cluster `TF_CONFIG` names."""
    distribution = make_strategy("multi_worker")  # first: collectives are configured at startup
    index, workers = worker_role()
    run = dataclasses.replace(run, chief=index == 0, verbose=run.verbose if index == 0 else 0)
    if run.config.batch_size % workers:
        raise KerasAirnError(f"The global batch of {run.config.batch_size} does not split evenly over {workers} "
                             f"workers; give a --batch_size (batch_size=) that {workers} divides.")
    with run_state.RunLock(run.out_dir) if run.chief else contextlib.nullcontext():
        if run.chief:
            prepare_out_dir(run.out_dir)
        fresh, model, settings, first_epoch = _replicas(run, distribution)
        first_epoch = min(first_epoch, run.last_epoch)
        dataset = distribution.distribute_datasets_from_function(functools.partial(_worker_input, run, first_epoch))
        if run.chief:
            start_run(run, settings)
        logging.info("Worker %d of %d: %d replicas in sync, epochs %d-%d.", index, workers,
                     distribution.num_replicas_in_sync, first_epoch, run.last_epoch)
        trainer = DistributedTrainer(model, distribution, run.config.batch_size)
        with _quiet_tensorflow_info():
            epochs_done = _train_epochs(run, trainer, fresh, iter(dataset), first_epoch, index)
        summary = {"epochs": epochs_done, "out_dir": run.out_dir, "workers": workers}
        if run.stops_early(epochs_done) or not run.chief:
            return TrainResult(model, summary)
        fresh.set_weights(model.get_weights())  # the rest runs on the chief alone
        return finish(run, fresh, summary, precise_bn_done=run.precise_bn_each_epoch)


def _train_epochs(run: Run, trainer: DistributedTrainer, fresh, iterator, first_epoch: int, index: int) -> int:
    """Trains epochs [first_epoch, last_epoch) with `trainer` (precise BN of every epoch on the
    local copy `fresh`); returns the epochs done (fewer where a callback stopped the run)."""
    model, steps = trainer.model, run.steps
    writer = tf.summary.create_file_writer(os.path.join(run.out_dir, "logs", "train")) if run.chief else None
    user_callbacks = keras.callbacks.CallbackList(run.callbacks, model=model)
    for epoch in range(first_epoch, run.last_epoch):
        user_callbacks.on_epoch_begin(epoch)
        progress = keras.utils.Progbar(steps, stateful_metrics=["loss", "accuracy"], verbose=run.verbose)
        print(f"Epoch {epoch + 1}/{run.last_epoch}") if run.chief else None
        with interrupt.between_steps():
            logs = trainer.run_epoch(iterator, steps, progress, after_step=lambda step, epoch=epoch: (
                run_state.fault_point(f"worker{index}_step", epoch * steps + step),
                interrupt.raise_if_requested()))
        if not np.isfinite(float(logs.get("loss", 0.0))):  # every worker sees the same reduced loss
            raise TrainingDiverged(diverged_message(run.out_dir, epoch, None))
        if run.precise_bn_each_epoch:  # every worker the same, on a local copy: all of the epoch's batches
            fresh.set_weights(model.get_weights())
            precise_bn(run, fresh, epoch)
            model.set_weights(fresh.get_weights())
        if run.chief:
            progress.update(steps, list(logs.items()), finalize=True)
            write_checkpoint(run.out_dir, model, epoch + 1, logs)
            _write_summaries(writer, epoch, logs)
        user_callbacks.on_epoch_end(epoch, logs)
        if model.stop_training:  # every worker's callbacks see the same reduced logs
            return epoch + 1
    return run.last_epoch


@contextlib.contextmanager
def _quiet_tensorflow_info():
    """TensorFlow's logger at WARNING: it logs a line for every all-reduce of the step it traces
    (each synchronised BatchNorm's statistics: about 1,800 lines for B0)."""
    tf_logger = tf.get_logger()
    level = tf_logger.level
    tf_logger.setLevel("WARNING")
    try:
        yield
    finally:
        tf_logger.setLevel(level)


def _worker_input(run: Run, first_epoch: int, context) -> tf.data.Dataset:
    """This worker's shard of the training data, batched per replica."""
    return run.train_data(first_epoch, shard=(context.input_pipeline_id, context.num_input_pipelines),
                          replica_batch_size=context.get_per_replica_batch_size(run.config.batch_size))


def _write_summaries(writer, epoch: int, logs: dict) -> None:
    """The epoch's logs as TensorBoard scalars `epoch_<name>`."""
    with writer.as_default(step=epoch):
        for name, value in logs.items():
            tf.summary.scalar(f"epoch_{name}", value)


def _replicas(run: Run, distribution):
    """(a local model, its replicated copy, the run's settings, the first epoch): built, compiled
    and, when resuming, restored from the last checkpoint with its RNG states. The chief refuses
    to start over an existing run; the other workers only read a checkpoint."""
    keras.utils.set_random_seed(run.config.seed)
    fresh = run.build_model()
    settings = run.settings(fresh)
    checkpoint, first_epoch = resume_state(run.out_dir, run.resume, settings) if run.chief or run.resume else (None, 0)
    with distribution.scope():
        model = replicate(fresh)
        synchronise_batchnorm(model)
        compile_model(model, run.config, run.steps, run.compiled)
        copy_state(checkpoint or fresh, model)
        if checkpoint is not None:  # its RNG states, restored by resume_state
            copy_rng(checkpoint, model)
    return fresh, model, settings, first_epoch
