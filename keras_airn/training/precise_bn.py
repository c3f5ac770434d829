"""Precise BatchNorm: re-estimate moving statistics as exact averages over many batches."""

from __future__ import annotations

import itertools

import keras
import tensorflow as tf
from tqdm.auto import tqdm


def _batchnorms(model):
    return [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]


def recompute_batchnorm_statistics(model, dataset: tf.data.Dataset, num_batches: int = 200) -> int:
    """Replaces every trainable BatchNorm's moving mean and variance by the average of its batch
    statistics over `num_batches` training batches (the release's "precise BN").

    Frozen BatchNorms (trainable=False, e.g. when fine-tuning) are left alone. Other weights do
    not change.

    Args:
        model: a Keras model.
        dataset: yields (features, labels) batches.
        num_batches: batches to average over.

    Returns:
        The number of batches used.
    """
    layers = [bn for bn in _batchnorms(model) if bn.trainable]
    if not layers or num_batches <= 0:
        return 0
    saved = [bn.momentum for bn in layers]
    for bn in layers:
        bn.momentum = 0.0  # a training-mode call then leaves exactly its batch's statistics
    # One traced forward pass per batch (eager calls cost about twice a training step).
    forward = tf.function(lambda features: model(features, training=True), reduce_retracing=True)
    sums = None
    used = 0
    batches = itertools.islice(dataset, num_batches)
    try:
        for used, (features, _) in enumerate(tqdm(batches, total=num_batches, desc="precise BN", leave=False), 1):
            forward(features)
            statistics = [(bn.moving_mean.numpy(), bn.moving_variance.numpy()) for bn in layers]
            sums = statistics if sums is None else [(m + bm, v + bv) for (m, v), (bm, bv) in zip(sums, statistics)]
    finally:
        for bn, momentum in zip(layers, saved):
            bn.momentum = momentum
    if used == 0:
        return 0
    for bn, (mean, variance) in zip(layers, sums):
        bn.moving_mean.assign(mean / used)
        bn.moving_variance.assign(variance / used)
    return used
