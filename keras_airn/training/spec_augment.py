"""SpecAugment as TensorFlow ops with stateless randomness (docs/reference.md, section 1).

Order: time warp (W = 5), 2 frequency masks (< 27 bins), 2 time masks (< 25 frames); masked
cells take the spectrogram's mean. The release warps with a sparse image warp around the centre
mel row; here the warp is piecewise linear in time and the same for every mel row, which moves
the same control point by the same distance.
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class SpecAugmentConfig:
    time_warp: int = 5
    freq_masks: int = 2
    freq_mask_width: int = 27  # widths drawn from [0, freq_mask_width)
    time_masks: int = 2
    time_mask_width: int = 25


def _uniform_int(seed, low, high):
    """Integer uniform in [low, high) (high > low), stateless."""
    return tf.random.stateless_uniform([], seed, minval=low, maxval=high, dtype=tf.int32)


def time_warp(features, seed, warp: int):
    """Moves a random frame t0 in [W, T - W) by w in [-W, W], stretching both sides linearly.

    Args:
        features: (T, F) float32.
        seed: (2,) int tensor.
        warp: W.

    Returns:
        (T, F) float32.
    """
    frames = tf.shape(features)[0]
    if warp <= 0:
        return features
    seeds = tf.random.experimental.stateless_split(seed, 2)
    centre = _uniform_int(seeds[0], warp, tf.maximum(frames - warp, warp + 1))
    shift = _uniform_int(seeds[1], -warp, warp + 1)
    destination = centre + shift
    t = tf.cast(tf.range(frames), tf.float32)
    c, d, n = (tf.cast(v, tf.float32) for v in (centre, destination, frames - 1))
    source = tf.where(t <= d, t * c / tf.maximum(d, 1.0), c + (t - d) * (n - c) / tf.maximum(n - d, 1.0))
    source = tf.clip_by_value(source, 0.0, n)
    lower = tf.cast(tf.floor(source), tf.int32)
    upper = tf.minimum(lower + 1, frames - 1)
    fraction = (source - tf.cast(lower, tf.float32))[:, None]
    return tf.gather(features, lower) * (1.0 - fraction) + tf.gather(features, upper) * fraction


def _mask(features, seed, count, max_width, axis, fill):
    size = tf.shape(features)[axis]
    seeds = tf.random.experimental.stateless_split(seed, 2 * count)
    keep = tf.ones_like(features, tf.bool)
    for index in range(count):
        width = _uniform_int(seeds[2 * index], 0, max_width)
        width = tf.minimum(width, size)
        start = _uniform_int(seeds[2 * index + 1], 0, tf.maximum(size - width, 1))
        positions = tf.range(size)
        inside = (positions >= start) & (positions < start + width)
        inside = inside[:, None] if axis == 0 else inside[None, :]
        keep &= ~inside
    return tf.where(keep, features, fill)


def spec_augment(features, seed, config: SpecAugmentConfig = SpecAugmentConfig()):
    """Applies SpecAugment to one (T, F) log-mel spectrogram.

    Args:
        features: (T, F) float32.
        seed: (2,) int tensor; the same seed gives the same augmentation.
        config: widths and counts.

    Returns:
        (T, F) float32.
    """
    seeds = tf.random.experimental.stateless_split(seed, 3)
    features = time_warp(features, seeds[0], config.time_warp)
    fill = tf.reduce_mean(features)
    features = _mask(features, seeds[1], config.freq_masks, config.freq_mask_width, 1, fill)
    return _mask(features, seeds[2], config.time_masks, config.time_mask_width, 0, fill)
