"""SpecAugment as TensorFlow ops with stateless randomness (docs/reference.md, section 1).

Order: time warp (W = 5), 2 frequency masks (F = 27), 2 time masks (T = 25); masked cells take
the spectrogram's mean. Two styles:

- "release" (the release's recipe): sampled as slowfast/datasets/spec_augment.py does. A mask's
  width is drawn twice (w0 in [0, F), then the width in [0, w0)), and a first draw of 0 ends
  that kind's masks; each mask takes the mean of the spectrogram as the earlier masks left it.
  The time warp takes the *value* of the middle mel row at a random frame as the control point's
  time coordinate (a bug: the frame index was meant), moves it by [-W, W) and warps with the
  release's sparse image warp, whose one-point polyharmonic system (with its 3 x 3 block of
  random normals where TensorFlow has zeros, and its distances computed from the sums over all
  points) resolves to an affine time flow, different for every mel row, often beyond W frames.
- "clean": SpecAugment as its paper describes it: widths drawn once from [0, F), every mask
  drawn; a random frame moved by [-W, W] with both ends fixed, the same for every mel row
  (piecewise linear in time).

tests/test_spec_augment.py checks "release" against the release's own functions' recorded draws
and outputs (tests/data/release_spec_augment.npz).
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from keras_airn.errors import check_choice

STYLES = ("release", "clean")


@dataclasses.dataclass(frozen=True)
class SpecAugmentConfig:
    """Counts and widths of SpecAugment, and how they are drawn.

    Args:
        time_warp: W.
        freq_masks, time_masks: masks of each kind.
        freq_mask_width, time_mask_width: F and T (widths below them).
        style: "release" or "clean" (the module's docstring).
    """

    time_warp: int = 5
    freq_masks: int = 2
    freq_mask_width: int = 27
    time_masks: int = 2
    time_mask_width: int = 25
    style: str = "release"

    def __post_init__(self):
        check_choice("SpecAugment style", self.style, STYLES)


def _uniform_int(seed, low, high):
    """Integer uniform in [low, high) (high > low), stateless."""
    return tf.random.stateless_uniform([], seed, minval=low, maxval=high, dtype=tf.int32)


def time_warp(features, seed, warp: int):
    """The "clean" warp: moves a random frame t0 in [W, T - W) by w in [-W, W], stretching both sides linearly.

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
        config: widths, counts and style.

    Returns:
        (T, F) float32.

    Example:
    >>> features = tf.random.stateless_normal([100, 40], seed=[0, 0])
    >>> spec_augment(features, tf.constant([1, 2]), SpecAugmentConfig(freq_mask_width=8)).shape
    TensorShape([100, 40])
    """
    seeds = tf.random.experimental.stateless_split(seed, 3)
    if config.style == "clean":
        features = time_warp(features, seeds[0], config.time_warp)
        fill = tf.reduce_mean(features)
        features = _mask(features, seeds[1], config.freq_masks, config.freq_mask_width, 1, fill)
        return _mask(features, seeds[2], config.time_masks, config.time_mask_width, 0, fill)
    frames, bands = tf.shape(features)[0], tf.shape(features)[1]
    if config.time_warp > 0:
        features = release_time_warp(features, *draw_release_warp(seeds[0], frames, config.time_warp))
    features = release_masks(features, draw_release_masks(seeds[1], config.freq_masks, config.freq_mask_width,
                                                           bands), axis=1)
    return release_masks(features, draw_release_masks(seeds[2], config.time_masks, config.time_mask_width,
                                                      frames), axis=0)


def draw_release_masks(seed, count: int, max_width: int, size):
    """The release's draws for `count` masks: rows of (w0, start, end) as its `randrange` calls
    give them, w0 in [0, max_width), start in [0, size - w0), end in [start, start + w0).

    Returns:
        int32 (count, 3).
    """
    seeds = tf.random.experimental.stateless_split(seed, 3 * count)
    rows = []
    for index in range(count):
        first = _uniform_int(seeds[3 * index], 0, max_width)
        start = _uniform_int(seeds[3 * index + 1], 0, tf.maximum(size - first, 1))
        offset = tf.random.stateless_uniform([], seeds[3 * index + 2]) * tf.cast(first, tf.float32)
        rows.append(tf.stack([first, start, start + tf.minimum(tf.cast(offset, tf.int32), tf.maximum(first - 1, 0))]))
    return tf.stack(rows) if rows else tf.zeros([0, 3], tf.int32)


def release_masks(features, draws, axis: int):
    """Masks as the release's `freq_mask` (axis 1 of (T, F)) or `time_mask` (axis 0) applies
    them: cells [start, end) take the mean of the spectrogram as it is then; a w0 of 0 ends the
    masks (that one and those after it).

    Args:
        features: (T, F) float32.
        draws: int (count, 3) rows of (w0, start, end), `draw_release_masks`' or recorded.
        axis: 1 for frequency masks, 0 for time masks.

    Returns:
        (T, F) float32.
    """
    draws = tf.convert_to_tensor(draws, tf.int32)
    positions = tf.range(tf.shape(features)[axis])
    active = tf.constant(True)
    for index in range(draws.shape[0]):
        active &= draws[index, 0] > 0
        inside = active & (positions >= draws[index, 1]) & (positions < draws[index, 2])
        inside = inside[None, :] if axis == 1 else inside[:, None]
        features = tf.where(inside, tf.reduce_mean(features), features)
    return features


def draw_release_warp(seed, frames, warp: int):
    """The release's time-warp draws: a frame in [W, T - W), a distance in [-W, W), and the 3 x 3
    standard normals its spline solve puts where TensorFlow's has zeros.

    Returns:
        (frame int32, distance int32, normals float64 (3, 3)).
    """
    seeds = tf.random.experimental.stateless_split(seed, 3)
    frame = _uniform_int(seeds[0], warp, tf.maximum(frames - warp, warp + 1))
    distance = _uniform_int(seeds[1], -warp, warp)
    return frame, distance, tf.random.stateless_normal([3, 3], seeds[2], dtype=tf.float64)


def release_time_warp(features, frame, distance, normals):
    """The release's `time_warp` with given draws (what its sparse image warp computes).

    The control point is (F // 2, value) in (mel row, frame) coordinates, `value` the spectrogram
    at (frame, F // 2); its destination c is `distance` frames later. The release solves the
    one-point polyharmonic spline system [[0, b], [b^T, N / 1e10]] [w; v] = [flow; 0] at the
    destination (b = (c, 1), N the normals): v = d N^-1 b / (b . N^-1 b),
    w = -1e-10 d / (b . N^-1 b), the row flow 0. The time flow at (y, x) is
    w phi(r) + v . (y, x, 1), phi(r) = r log(r) / 2, with r = sum over every grid point of
    |p|^2 - 2 (y, x) . c + |c|^2 as the release computes it; output (y, x) is input (y, x - flow),
    linearly interpolated, clamped at the edges.

    Args:
        features: (T, F) float32.
        frame, distance: int scalars.
        normals: (3, 3) float.

    Returns:
        (T, F) float32.
    """
    image = tf.transpose(features)  # (F, T): mel rows, frame columns, as the release's view
    flow = release_warp_flow(image, frame, distance, normals)
    cols = tf.cast(tf.shape(image)[1], tf.float64)
    x = tf.range(cols, dtype=tf.float64)[None, :]
    source = x - flow
    left = tf.clip_by_value(tf.floor(source), 0.0, cols - 2)
    weight = tf.cast(tf.clip_by_value(source - left, 0.0, 1.0), tf.float32)
    left = tf.cast(left, tf.int32)
    before = tf.gather(image, left, batch_dims=1)
    after = tf.gather(image, left + 1, batch_dims=1)
    return tf.transpose(before + weight * (after - before))


def release_warp_flow(image, frame, distance, normals):
    """The release's time flow (F, T) float64 for an (F, T) image (`release_time_warp`)."""
    rows, cols = tf.shape(image)[0], tf.shape(image)[1]
    row = rows // 2
    # The spline is fitted at the destination, value + distance.
    centre = tf.stack([tf.cast(row, tf.float64), tf.cast(image[row, frame], tf.float64) + tf.cast(distance, tf.float64)])
    b = tf.concat([centre, tf.ones([1], tf.float64)], 0)
    direction = tf.linalg.solve(tf.cast(normals, tf.float64), b[:, None])[:, 0]
    scale = tf.cast(distance, tf.float64) / tf.reduce_sum(b * direction)
    w, v = -scale / 1e10, scale * direction
    h, c = tf.cast(rows, tf.float64), tf.cast(cols, tf.float64)
    grid_sum = c * (h - 1) * h * (2 * h - 1) / 6 + h * (c - 1) * c * (2 * c - 1) / 6
    y = tf.range(h, dtype=tf.float64)[:, None]
    x = tf.range(c, dtype=tf.float64)[None, :]
    r = grid_sum - 2 * (y * centre[0] + x * centre[1]) + tf.reduce_sum(centre**2)
    phi = 0.5 * r * tf.math.log(tf.maximum(r, 1e-10))
    flow = w * phi + v[0] * y + v[1] * x + v[2]
    return tf.where(tf.math.is_finite(flow), flow, 0.0)  # b . N^-1 b == 0: the release's solve fails
