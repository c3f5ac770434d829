"""Precise BatchNorm: re-estimate moving statistics from many batches with fixed weights.

The release runs fvcore's `update_bn_stats` (fvcore 0.1.6, `_PopulationVarianceEstimator`): each
batch's mean and biased variance, weighted by the values per channel it normalised, pooled
into the population mean and variance of all the batches' values together.
"""

from __future__ import annotations

import itertools
import weakref

import keras
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm


# One traced training-mode forward per model, reused by every epoch's re-estimation. Traced while
# the momenta are 0, and only ever called while they are.
_FORWARD = weakref.WeakKeyDictionary()


def _batchnorms(model):
    return [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]


def recompute_batchnorm_statistics(model, dataset: tf.data.Dataset, num_batches: int = 200,
                                   progress: bool = True) -> int:
    """Replaces every trainable BatchNorm's moving mean and variance by the population
    statistics of its inputs over up to `num_batches` batches (the release's "precise BN").

    A batch of n examples counts n times: the mean of all values, and their variance around it
    (the batches' biased variances plus the spread of their means). Frozen BatchNorms
    (trainable=False, e.g. when fine-tuning; the release skips BatchNorms in eval mode) are
    left alone. Other weights do not change.

    Args:
        model: a Keras model.
        dataset: yields (features, labels) batches.
        num_batches: at most this many batches.
        progress: show a progress bar.

    Returns:
        The number of batches used.
    """
    layers = [bn for bn in _batchnorms(model) if bn.trainable]
    if not layers or num_batches <= 0:
        return 0
    saved = [bn.momentum for bn in layers]
    for bn in layers:
        bn.momentum = 0.0  # a training-mode call then leaves exactly its batch's mean and biased variance
    if model not in _FORWARD:  # eager calls cost about twice a training step
        _FORWARD[model] = tf.function(lambda features: model(features, training=True), reduce_retracing=True)
    forward = _FORWARD[model]
    means = [np.zeros(bn.moving_mean.shape, np.float64) for bn in layers]
    squares = [np.zeros(bn.moving_variance.shape, np.float64) for bn in layers]
    used = seen = 0
    batches = itertools.islice(dataset, num_batches)
    try:
        for used, (features, _) in enumerate(tqdm(batches, total=num_batches, desc="precise BN", leave=False,
                                                              disable=not progress), 1):
            forward(features)
            size = int(features.shape[0])  # the values per channel are size x the layer's (fixed) positions
            seen += size
            for bn, mean, square in zip(layers, means, squares):
                batch_mean = bn.moving_mean.numpy().astype(np.float64)
                batch_square = batch_mean**2 + bn.moving_variance.numpy()
                mean += (batch_mean - mean) * (size / seen)
                square += (batch_square - square) * (size / seen)
    finally:
        for bn, momentum in zip(layers, saved):
            bn.momentum = momentum
    if used == 0:
        return 0
    for bn, mean, square in zip(layers, means, squares):
        bn.moving_mean.assign(mean.astype(np.float32))
        bn.moving_variance.assign(np.maximum(square - mean**2, 0.0).astype(np.float32))
    return used
