"""Audio decoding: WAV through `tf.audio.decode_wav`, FLAC/OGG/MP3 through soundfile.

Files at another sample rate than the front-end's are rejected with the path and both rates,
never resampled silently: the release resamples with librosa (soxr), and a different resampler
would change the features. Convert such files first (e.g. `sox in.flac -r 16000 out.flac`).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Iterable

import numpy as np
import soundfile
import tensorflow as tf
from tqdm.auto import tqdm

WAV_EXTENSIONS = (".wav",)
SOUNDFILE_EXTENSIONS = (".flac", ".ogg", ".mp3")
AUDIO_EXTENSIONS = WAV_EXTENSIONS + SOUNDFILE_EXTENSIONS


class AudioError(ValueError):
    """An audio file is missing, unreadable, empty, or at the wrong sample rate."""


@dataclasses.dataclass(frozen=True)
class AudioInfo:
    path: str
    num_samples: int
    sample_rate: int
    channels: int


def audio_info(path: str) -> AudioInfo:
    """Reads an audio file's header.

    Raises:
        AudioError: naming the path and the problem (missing, unsupported, corrupt, empty).
    """
    if not os.path.isfile(path):
        raise AudioError(f"{path}: file not found.")
    if not path.lower().endswith(AUDIO_EXTENSIONS):
        raise AudioError(f"{path}: unsupported audio type; expected one of {AUDIO_EXTENSIONS}.")
    try:
        info = soundfile.info(path)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as error:
        raise AudioError(f"{path}: corrupt or unreadable audio ({error}).") from error
    if info.frames <= 0:
        raise AudioError(f"{path}: empty audio (0 samples).")
    return AudioInfo(path, int(info.frames), int(info.samplerate), int(info.channels))


def check_audio(path: str, sample_rate: int) -> AudioInfo:
    """`audio_info` plus the sample-rate check."""
    info = audio_info(path)
    if info.sample_rate != sample_rate:
        raise AudioError(
            f"{path}: sample rate {info.sample_rate} Hz, expected {sample_rate} Hz "
            f"(resample it first, e.g. `sox in -r {sample_rate} out`)."
        )
    return info


def read_audio(path: str, sample_rate: int) -> np.ndarray:
    """Reads a whole file as mono float32 in [-1, 1].

    Args:
        path: WAV, FLAC, OGG or MP3 file.
        sample_rate: the rate the file must have.

    Returns:
        float32 array (samples,); channels are averaged.
    """
    check_audio(path, sample_rate)
    try:
        samples, _ = soundfile.read(path, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError) as error:
        raise AudioError(f"{path}: corrupt audio data ({error}).") from error
    if samples.shape[0] == 0:
        raise AudioError(f"{path}: empty audio (0 samples).")
    return samples.mean(axis=1).astype(np.float32)


def verify_audio_files(
    paths: Iterable[str], sample_rate: int, desc: str = "checking audio"
) -> tuple[list[str], dict[str, str]]:
    """Checks every file's header before a long job starts.

    Args:
        paths: audio files.
        sample_rate: required rate.
        desc: progress-bar label.

    Returns:
        (good paths, {bad path: reason}).
    """
    good, bad = [], {}
    for path in tqdm(list(paths), desc=desc, unit="file", leave=False):
        try:
            check_audio(path, sample_rate)
            good.append(path)
        except AudioError as error:
            bad[path] = str(error)
    return good, bad


def decode_audio(path, sample_rate: int):
    """Decodes one file inside a TensorFlow graph (e.g. a `tf.data` map).

    WAV is decoded by `tf.audio.decode_wav`, other types by soundfile through
    `tf.numpy_function`. The sample rate is asserted, with the path in the message.

    Args:
        path: scalar string tensor.
        sample_rate: required rate.

    Returns:
        float32 tensor (samples,), mono.
    """
    path = tf.convert_to_tensor(path, tf.string)

    def from_wav():
        audio, rate = tf.audio.decode_wav(tf.io.read_file(path))
        check = tf.debugging.Assert(
            tf.equal(rate, sample_rate),
            [path, "has sample rate", rate, "expected", sample_rate],
        )
        with tf.control_dependencies([check]):
            return tf.reduce_mean(audio, axis=1)

    def from_soundfile():
        def read(p):  # bytes in a graph, a 0-d bytes array when run eagerly
            return read_audio(np.asarray(p).item().decode(), sample_rate)

        audio = tf.numpy_function(read, [path], tf.float32, stateful=False)
        return tf.ensure_shape(audio, [None])

    is_wav = tf.strings.regex_full_match(tf.strings.lower(path), r".*\.wav")
    return tf.cond(is_wav, from_wav, from_soundfile)
