"""tf.data pipelines: decode, crop, log-mel, SpecAugment, batch.

All randomness is stateless and derived from (seed, epoch, example index), so epoch e of a run
is the same whether or not the run was interrupted before it: resuming is exact.
"""

from __future__ import annotations

import os
import sys
from typing import Sequence

import numpy as np
import tensorflow as tf

from keras_airn.data.audio import AudioError, check_audio, read_audio, read_audio_segment
from keras_airn.data.datasets import Example
from keras_airn.data.features import (
    FrontEnd,
    clip_length,
    host_clip_features,
    pad_frames,
    random_crop_start,
    view_features,
)
from keras_airn.training.bad_audio import BadAudioLog
from keras_airn.training.spec_augment import SpecAugmentConfig, spec_augment
from keras_airn.training.wave_augment import WaveAugment

AUTOTUNE = tf.data.AUTOTUNE
# Set (to anything) to print each decoded training example's index to stderr: tests count what
# each worker of a multi-worker run reads.
TRACE_VARIABLE = "AIRN_TRACE_DECODES"


def train_dataset(
    examples: Sequence[Example],
    front_end: FrontEnd,
    *,
    batch_size: int,
    seed: int,
    first_epoch: int,
    epochs: int,
    augment: SpecAugmentConfig | None = SpecAugmentConfig(),
    wave_augment: WaveAugment | None = None,
    shard: tuple[int, int] = (0, 1),
    replica_batch_size: int | None = None,
    bad_audio: BadAudioLog | None = None,
) -> tuple[tf.data.Dataset, int]:
    """Training batches for epochs [first_epoch, epochs), each epoch a fresh stateless shuffle.

    Each epoch uses its first `steps * batch_size` shuffled examples (drop-remainder), so
    batches never straddle epochs. With `shard=(i, n)` the dataset holds only the i-th of n
    equal slices of every global batch, and decodes nothing else: n workers together see
    exactly the batches one process sees.

    Args:
        examples: training examples.
        front_end: clip and feature settings.
        batch_size: examples per batch.
        seed: run seed.
        first_epoch: epoch to start at (for resuming).
        epochs: total epochs.
        augment: SpecAugment settings, or None.
        wave_augment: random gain, speed, equaliser, noise, DC offset and frequency warp of each crop
            (`WaveAugment`), or None.
        shard: (index, count): this input pipeline's slice of each global batch.
        replica_batch_size: batch size of the elements (default: the slice, `batch_size // count`);
            a slice feeding several local replicas is cut into one batch per replica.
        bad_audio: where a crop that cannot be used (NaN/Inf samples, a file changed since the
            check) is listed; that example is replaced by the next usable one of the list (a
            function of the example, so resuming stays exact). None: the error ends the run.

    Returns:
        (dataset of (features (b, T, F, 1), labels (b,)), steps per epoch).
    """
    count = len(examples)
    steps, part, replica_batch_size = _batch_sizes(count, batch_size, shard[1], replica_batch_size)
    shard_index, shard_count = shard

    def epoch_indices(epoch):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(count, dtype=tf.int64), seed=tf.stack([tf.constant(seed, tf.int64), epoch])
        )[: steps * batch_size]
        order = tf.reshape(tf.reshape(order, [steps, shard_count, part])[:, shard_index], [-1])
        return tf.data.Dataset.from_tensor_slices(order).map(lambda i: (epoch, i))

    load = _example_loader(examples, front_end, seed, augment, wave_augment, bad_audio)
    dataset = tf.data.Dataset.range(first_epoch, epochs).flat_map(epoch_indices)
    dataset = dataset.map(load, num_parallel_calls=AUTOTUNE, deterministic=True)
    return dataset.batch(replica_batch_size, drop_remainder=True).prefetch(AUTOTUNE), steps


def _batch_sizes(count: int, batch_size: int, shard_count: int, replica_batch_size: int | None):
    """(steps per epoch, a shard's examples per step, examples per element) of `train_dataset`,
    refused where they do not divide."""
    if not count:
        raise ValueError("No examples to build a pipeline from.")
    steps = count // batch_size
    if steps == 0:
        raise ValueError(f"{count} training examples do not fill one batch of {batch_size}.")
    if batch_size % shard_count:
        raise ValueError(f"The global batch of {batch_size} does not split evenly over {shard_count} workers.")
    part = batch_size // shard_count
    replica_batch_size = replica_batch_size or part
    if part % replica_batch_size:
        raise ValueError(f"A worker's {part} examples per step do not split into batches of {replica_batch_size}.")
    return steps, part, replica_batch_size


def _example_loader(examples, front_end: FrontEnd, seed: int, augment, wave_augment, bad_audio):
    """The `train_dataset` map from (epoch, example index) to (features (T, F, 1), label)."""
    trace = bool(os.environ.get(TRACE_VARIABLE))

    def load(epoch, index):
        example_seed = tf.stack([epoch * 1_000_003 + tf.constant(seed, tf.int64), index])
        seeds = tf.random.experimental.stateless_split(example_seed, 2)
        uniform = tf.random.stateless_uniform([], seeds[0], dtype=tf.float64)
        # The waveform augmentation's draws come from a seed of their own: the crop and
        # SpecAugment draws are the same with and without them.
        wave_draws = tf.random.stateless_uniform([WaveAugment.DRAWS],
                                                 tf.random.experimental.stateless_split(seeds[0], 1)[0],
                                                 dtype=tf.float64)
        features, label = tf.numpy_function(
            lambda i, u, w: _usable_crop_features(examples, int(i), u, front_end, bad_audio, wave_augment, w),
            [index, uniform, wave_draws], [tf.float32, tf.int32], stateful=False)
        features = pad_frames(tf.ensure_shape(features, [None, front_end.n_mels]), front_end.num_frames)
        if augment is not None:
            features = spec_augment(features, seeds[1], augment)
        if trace:
            tf.print("AIRN_DECODED seed", seed, "epoch", epoch, "example", index, output_stream=sys.stderr)
        return features[..., None], tf.ensure_shape(label, [])

    return load


def _usable_crop_features(examples: Sequence[Example], index: int, uniform, front_end: FrontEnd,
                          bad_audio: BadAudioLog | None, wave_augment: WaveAugment | None = None,
                          wave_draws=(0.5,) * WaveAugment.DRAWS) -> tuple[np.ndarray, np.int32]:
    """(`_crop_features` of example `index`, its label); past unusable examples to the next usable one."""
    for step in range(len(examples)):
        example = examples[(index + step) % len(examples)]
        try:
            features = _crop_features(example.path, example.start, example.stop, uniform, front_end, wave_augment,
                                      wave_draws)
            return features, np.int32(example.label)
        except AudioError as error:
            if bad_audio is None:
                raise
            bad_audio.skip(error)
    raise AudioError(f"{examples[0].path}: no training example has usable audio (all listed as bad).")


def _crop_features(path: str, start, stop, uniform, front_end: FrontEnd, wave_augment: WaveAugment | None = None,
                   wave_draws=(0.5,) * WaveAugment.DRAWS) -> np.ndarray:
    """The log-mel of a training crop, decoding only the crop (one call per example on the host).

    The crop is `clip_features`' crop of the whole recording (start from `random_crop_start`'s
    formula on the header's length); only its samples are read. With `wave_augment`, the
    recording is cropped as if it were played at the drawn speed (the crop read is that many
    times longer, then resampled), scaled by the drawn gain, given the drawn noise and DC offset,
    and its log-mel the drawn equaliser response and frequency warp.
    """
    info = check_audio(path, front_end.sample_rate)
    stop = info.samples_at(front_end.sample_rate) if stop < 0 else int(stop)
    available = stop - int(start)
    if wave_augment is None or not wave_augment.active:
        first = int(start) + random_crop_start(available, front_end, uniform)
        crop = read_audio_segment(path, front_end.sample_rate, first, clip_length(available, front_end), info=info,
                                  resampler=front_end.resampler)
        return host_clip_features(crop, 0, front_end)
    gain_draw, speed_draw = float(wave_draws[0]), float(wave_draws[1])
    played = int(available / wave_augment.speed_factor(speed_draw))  # the recording's length at that speed
    length = clip_length(played, front_end)
    read = min(available, wave_augment.samples_to_read(length, speed_draw))
    first = int(start) + int(np.floor(np.float64(uniform) * (available - read)))
    crop = read_audio_segment(path, front_end.sample_rate, first, read, info=info, resampler=front_end.resampler)
    crop = wave_augment.apply(crop, front_end.sample_rate, gain_draw, speed_draw, length)
    crop = wave_augment.add_noise(crop, *(float(draw) for draw in wave_draws[WaveAugment.NOISE_DRAWS]))
    crop = wave_augment.add_dc_offset(crop, float(wave_draws[WaveAugment.DC_DRAW]))
    log_mel = wave_augment.equalize(host_clip_features(crop, 0, front_end), wave_draws[WaveAugment.EQUALIZER_DRAWS])
    return wave_augment.warp_frequencies(log_mel, front_end.sample_rate, float(wave_draws[WaveAugment.WARP_DRAW]))


def eval_dataset(
    examples: Sequence[Example],
    front_end: FrontEnd,
    *,
    batch_size: int,
    views: int | None = None,
    cache: str | None = None,
    bad_audio: BadAudioLog | None = None,
) -> tf.data.Dataset:
    """Evaluation batches: each example becomes `views` evenly spaced crops.

    Args:
        examples: evaluation examples.
        front_end: settings; `views` defaults to `front_end.eval_views`.
        batch_size: crops per batch.
        views: crops per example.
        cache: file prefix for caching features ("" caches in memory), or None.
        bad_audio: where an example that cannot be read is listed; its crops are then silence
            and belong left out of the scores (`BadAudioLog.paths`). None: the error ends the run.

    Returns:
        Dataset of (features (B, T, F, 1), labels (B,), example index (B,)); the crops of one
        example are consecutive.
    """
    if not examples:
        raise ValueError("No examples to build a pipeline from.")
    views = views or front_end.eval_views
    labels = tf.constant([e.label for e in examples], tf.int32)

    def read(index):
        example = examples[int(index)]
        try:
            audio = read_audio(example.path, front_end.sample_rate, resampler=front_end.resampler)
        except AudioError as error:
            if bad_audio is None:
                raise
            bad_audio.skip(error)
            return np.zeros(front_end.clip_size, np.float32)
        return audio[example.start : None if example.stop < 0 else example.stop]

    def load(index):
        audio = tf.ensure_shape(tf.numpy_function(read, [index], tf.float32, stateful=False), [None])
        features = view_features(audio, front_end, views)
        return tf.data.Dataset.from_tensor_slices(
            (features[..., None], tf.repeat(labels[index], views), tf.repeat(index, views))
        )

    dataset = tf.data.Dataset.range(len(examples)).interleave(
        load, cycle_length=AUTOTUNE, block_length=views, num_parallel_calls=AUTOTUNE, deterministic=True
    )
    if cache is not None:
        dataset = dataset.cache(cache)
    return dataset.batch(batch_size).prefetch(AUTOTUNE)
