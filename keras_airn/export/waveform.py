"""The log-mel front-end in TFLite builtin ops, and the waveform-input model built on it.

`tf.signal` framing and FFTs do not all lower to TFLite builtins, so for export the front-end is
rewritten for a fixed input length: framing is one GATHER with a precomputed index table, and
the 2048-point FFT of each windowed frame is a DFT against the 1025 output bins, written as two
matrix products with the window folded in (win_length x 1025 each). Only the win_length
non-zero samples of each zero-padded frame enter the product, so it is exact and cheap.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from keras_airn.data.features import LOG_OFFSET, FrontEnd, mel_filterbank, num_frames_for, periodic_hann
from keras_airn.inference.artifacts import END_MARKER, pad_to_input  # noqa: F401 - the format they write


def dft_matrices(front_end: FrontEnd) -> tuple[np.ndarray, np.ndarray]:
    """Windowed real and imaginary DFT matrices (win_length, n_fft // 2 + 1), float32."""
    n = np.arange(front_end.win_length)[:, None]
    k = np.arange(front_end.n_fft // 2 + 1)[None, :]
    # The window starts at offset (n_fft - win) // 2 in the n_fft frame; that shift only
    # rotates the phase, which the magnitude discards.
    angle = 2.0 * np.pi * n * k / front_end.n_fft
    window = periodic_hann(front_end.win_length)[:, None]
    return (window * np.cos(angle)).astype(np.float32), (window * np.sin(angle)).astype(np.float32)


def frame_indices(num_samples: int, front_end: FrontEnd) -> np.ndarray:
    """Gather indices (frames, win_length) into the signal padded as `builtin_log_mel` pads it."""
    frames = num_frames_for(num_samples, front_end.hop_length)
    return (np.arange(frames)[:, None] * front_end.hop_length + np.arange(front_end.win_length)[None, :]).astype(np.int32)


def builtin_log_mel(waveform, num_samples: int, front_end: FrontEnd):
    """Log-mel of a (batch, num_samples) waveform with TFLite builtin ops only.

    Args:
        waveform: float32 (batch, num_samples).
        num_samples: the fixed input length.
        front_end: settings.

    Returns:
        float32 (batch, frames, n_mels, 1).
    """
    offset = (front_end.n_fft - front_end.win_length) // 2
    padded = tf.pad(waveform, [[0, 0], [front_end.n_fft // 2 - offset, front_end.n_fft // 2]])
    frames = tf.gather(padded, frame_indices(num_samples, front_end), axis=1)  # (B, T, win)
    cosine, sine = dft_matrices(front_end)
    real = tf.matmul(frames, cosine)
    imaginary = tf.matmul(frames, sine)
    magnitude = tf.sqrt(real * real + imaginary * imaginary)
    mel = tf.matmul(magnitude, mel_filterbank(front_end.sample_rate, front_end.n_fft, front_end.n_mels).T)
    return tf.math.log(mel + LOG_OFFSET)[..., None]




def split_end_marker(waveform):
    """(the waveform with `END_MARKER` samples set to 0, the number of samples before them), builtins only.

    Args:
        waveform: (1, samples) float PCM, possibly ending in `END_MARKER` samples.

    Returns:
        ((1, samples) float PCM, (1,) int32 signal length).
    """
    signal = tf.equal(waveform, waveform)  # False exactly at NaN
    clean = tf.where(signal, waveform, tf.zeros_like(waveform))
    return clean, tf.reduce_sum(tf.cast(signal, tf.int32), axis=1)


def pad_frames_after_signal(features, length, front_end: FrontEnd):
    """Repeats the frame where the signal ends over the frames after it, with builtin ops.

    A clip shorter than a crop is, in training, transformed whole and its last frame repeated up
    to T frames (`keras_airn.data.features.clip_features`). A fixed-size model receives it padded to
    its input length with `END_MARKER` (as `keras_airn.inference.runtime` feeds it); the marker is read as
    zeros, so frames up to n // hop, n the clip's length, are already the reference's, and the
    frames after it are replaced here by frame n // hop. A full crop (no marker) is unchanged,
    whatever its samples: digital silence inside or at the end of a window is audio. A runtime
    that pads with zeros (MediaPipe) gets a zero-padded clip's scores.

    Args:
        features: (1, T, n_mels, 1) log-mel of the cleaned waveform.
        length: (1,) samples before the marker (`split_end_marker`).
        front_end: settings.

    Returns:
        (1, T, n_mels, 1).
    """
    last = tf.math.floordiv(length, front_end.hop_length)
    frames = tf.minimum(tf.range(int(features.shape[1]), dtype=tf.int32), last)
    return tf.gather(features, frames, axis=1)


def fill_after_signal(clean, length):
    """Repeats the signal's last sample over the samples after it (a front-end with
    `short_clip_padding="edge_sample"`, UrbanSound8K's), with builtin ops.

    Args:
        clean: (1, samples) PCM, the marker read as zeros (`split_end_marker`).
        length: (1,) samples before the marker.

    Returns:
        (1, samples).
    """
    last = tf.gather(clean, tf.maximum(length - 1, 0), axis=1, batch_dims=1)
    inside = tf.range(tf.shape(clean)[1])[None, :] < length[:, None]
    return tf.where(inside, clean, last[:, None])


# The name scope of the front-end's ops in the waveform model's graph.
FRONT_END_SCOPE = "front_end"


def waveform_function(model, front_end: FrontEnd):
    """A concrete function from (1, clip_size - 1) float PCM to logits, for conversion.

    A shorter clip goes in padded with `END_MARKER` (`pad_to_input`).

    Args:
        model: a Keras model taking (1, num_frames, n_mels, 1).
        front_end: the settings the model was trained with.

    Returns:
        (tf.function, input length in samples).
    """
    num_samples = front_end.clip_size - 1

    @tf.function(input_signature=[waveform_spec(front_end)])
    def classify(waveform):
        return model(waveform_features(waveform, front_end), training=False)

    return classify, num_samples


def waveform_spec(front_end: FrontEnd) -> tf.TensorSpec:
    """The input of a waveform model: (1, clip_size - 1) float PCM named "waveform"."""
    return tf.TensorSpec([1, front_end.clip_size - 1], tf.float32, name="waveform")


def waveform_features(waveform, front_end: FrontEnd):
    """The model's log-mel (1, T, n_mels, 1) of a (1, clip_size - 1) waveform that may end in
    `END_MARKER` samples, with builtin ops only: what a waveform model feeds its network."""
    num_samples = front_end.clip_size - 1
    with tf.name_scope(FRONT_END_SCOPE):  # its ops named apart (OpenVINO's int8 keeps them float)
        clean, length = split_end_marker(waveform)
        if front_end.short_clip_padding == "edge_sample":
            return builtin_log_mel(fill_after_signal(clean, length), num_samples, front_end)
        return pad_frames_after_signal(builtin_log_mel(clean, num_samples, front_end), length, front_end)
