"""Data-parallel training across processes and machines with `tf.distribute`.

Engine: `tf.distribute.MultiWorkerMirroredStrategy` (synchronous all-reduce over gRPC, NCCL
between GPUs), driven by its own training step, because Keras 3's `model.fit` fails under it
(keras-team/keras issue 20585). It keeps the `tf.data` input, runs on CPUs and GPUs alike and
needs no other framework. Each worker reads `TF_CONFIG` (`train.launch_local` sets it on one
machine); worker 0 is the chief.

The step is the single-process step spread over replicas: each replica takes its own slice of
the global batch (`pipeline.train_dataset(shard=...)`: a worker decodes only its slice), the
loss is summed over the replica's examples and divided by the global batch size, the optimizer
all-reduces (sums) the gradients, and BatchNorm's statistics are all-reduced over the global
batch (`synchronise_batchnorm`). So N workers on global batch B compute what one process on B
computes (tests/test_multi_worker.py).
"""

from __future__ import annotations

import functools
import json
import os

import keras
import numpy as np
import tensorflow as tf

from keras_airn.errors import KerasAirnError


def worker_role() -> tuple[int, int]:
    """(this worker's index, number of workers) from `TF_CONFIG`; (0, 1) without one."""
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    workers = config.get("cluster", {}).get("worker", [])
    if not workers:
        return 0, 1
    task = config.get("task", {})
    if task.get("type", "worker") != "worker":
        raise ValueError(f"TF_CONFIG task type {task.get('type')!r}: only 'worker' tasks are used "
                         f"(worker 0 is the chief).")
    return int(task.get("index", 0)), len(workers)


def is_chief() -> bool:
    """True in single-process runs and on worker 0 of a multi-worker run: the one that writes."""
    return worker_role()[0] == 0


def make_strategy(name: str) -> tf.distribute.Strategy:
    """"default" (one device), "mirrored" (all local devices) or "multi_worker" (`TF_CONFIG`).

    TensorFlow configures a multi-worker cluster only before any other TensorFlow operation: a
    multi-worker run calls `make_strategy("multi_worker")` first, before building its model;
    later calls return that strategy.

    Raises:
        ValueError: an unknown name; `KerasAirnError` (a ValueError): no cluster in `TF_CONFIG`,
            or a multi-worker strategy asked for after TensorFlow has started.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        if worker_role()[1] == 1:
            raise KerasAirnError("--strategy multi_worker needs TF_CONFIG naming the workers; start them with "
                                 "`python -m train.launch_local --num_workers N -- ...` or set it on each host.")
        try:
            return _multi_worker_strategy()
        except RuntimeError as error:  # "Collective ops must be configured at program startup"
            raise KerasAirnError("strategy='multi_worker' must be made before any model or tensor: call "
                                 "keras_airn.training.distributed.make_strategy('multi_worker') first, then "
                                 f"build the classifier ({error}).") from error
    raise ValueError(f"Unknown strategy {name!r}; use default, mirrored or multi_worker.")


@functools.cache
def _multi_worker_strategy() -> tf.distribute.Strategy:
    """The process's one `MultiWorkerMirroredStrategy`."""
    return tf.distribute.MultiWorkerMirroredStrategy()


def synchronise_batchnorm(model: keras.Model) -> None:
    """Makes every BatchNormalization layer compute its batch statistics over all replicas."""
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.synchronized = True


class DistributedTrainer:
    """The training step of `model` (compiled) under `strategy`, one epoch at a time.

    Args:
        model: a compiled model whose variables live in `strategy`'s scope.
        strategy: the distribution strategy.
        global_batch_size: examples per step over all replicas.
    """

    def __init__(self, model: keras.Model, strategy: tf.distribute.Strategy, global_batch_size: int):
        self.model, self.strategy, self.global_batch_size = model, strategy, global_batch_size
        self._loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)
        self._step = tf.function(self._distributed_step)

    def _replica_step(self, features, labels):
        with tf.GradientTape() as tape:
            logits = self.model(features, training=True)
            per_example = self._loss(labels, logits)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=self.global_batch_size)
            loss = self.model.optimizer.scale_loss(loss)  # loss scaling under mixed precision
        variables = self.model.trainable_variables
        gradients = tape.gradient(loss, variables)
        self.model.optimizer.apply_gradients(zip(gradients, variables))
        correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32),
                                                 tf.cast(labels, tf.int32)), tf.float32))
        return tf.reduce_sum(per_example), correct

    def _distributed_step(self, iterator):
        loss_sum, correct = self.strategy.run(self._replica_step, args=next(iterator))
        reduce = tf.distribute.ReduceOp.SUM
        return self.strategy.reduce(reduce, loss_sum, axis=None), self.strategy.reduce(reduce, correct, axis=None)

    def run_epoch(self, iterator, steps: int, progress: keras.utils.Progbar | None = None,
                  after_step=None) -> dict[str, float]:
        """Runs `steps` steps from `iterator`; returns the epoch's mean loss and accuracy.

        Args:
            iterator: iterator over the distributed dataset.
            steps: steps in the epoch.
            progress: a progress bar to update, or None.
            after_step: called with the step's index after each step (fault injection in tests).
        """
        total_loss = total_correct = 0.0
        for step in range(steps):
            loss_sum, correct = self._step(iterator)
            total_loss += float(loss_sum)
            total_correct += float(correct)
            seen = (step + 1) * self.global_batch_size
            if progress is not None:
                progress.update(step + 1, [("loss", total_loss / seen), ("accuracy", total_correct / seen)],
                                finalize=False)
            if after_step is not None:
                after_step(step)
        seen = steps * self.global_batch_size
        return {"loss": total_loss / seen, "accuracy": total_correct / seen}


def replicate(model: keras.Model) -> keras.Model:
    """A copy of `model` built in the current (strategy) scope: config, per-layer `trainable`
    flags (frozen BatchNorm of fine-tuning) and weights; compile it afterwards."""
    copy = model.__class__.from_config(model.get_config())
    pairs = list(zip(copy._flatten_layers(), model._flatten_layers()))
    if len(pairs) != len(list(model._flatten_layers())) or any(a.name != b.name for a, b in pairs):
        raise ValueError(f"{model.name} does not rebuild from its config layer for layer.")
    for mine, theirs in pairs:
        mine.trainable = theirs.trainable
    copy.set_weights(model.get_weights())
    return copy


def copy_state(source: keras.Model, target: keras.Model) -> None:
    """Copies weights and, where both have one, the optimizer's variables (a checkpoint's state)."""
    target.set_weights(source.get_weights())
    if getattr(source, "optimizer", None) is not None and getattr(target, "optimizer", None) is not None:
        target.optimizer.build(target.trainable_variables)
        for mine, theirs in zip(target.optimizer.variables, source.optimizer.variables):
            mine.assign(np.asarray(theirs))
