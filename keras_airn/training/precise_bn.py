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
    saved = [(bn.momentum, bn.moving_mean.numpy(), bn.moving_variance.numpy()) for bn in layers]
    for bn in layers:
        bn.moving_mean.assign(tf.zeros_like(bn.moving_mean))
        bn.moving_variance.assign(tf.zeros_like(bn.moving_variance))
    used = 0
    batches = itertools.islice(dataset, num_batches)
    for used, (features, _) in enumerate(tqdm(batches, total=num_batches, desc="precise BN", leave=False), 1):
        # Running mean with momentum 1 - 1/k is the exact average of the first k batch statistics.
        for bn in layers:
            bn.momentum = 1.0 - 1.0 / used
        model(features, training=True)
    for bn, (momentum, mean, variance) in zip(layers, saved):
        bn.momentum = momentum
        if used == 0:
            bn.moving_mean.assign(mean)
            bn.moving_variance.assign(variance)
    return used
