"""Reading audio as the release does: any format soundfile reads, any rate, any channel count.

Every file is decoded by soundfile (WAV of any bit depth, FLAC, OGG, MP3), mixed to mono by
the mean of its channels, and resampled to the front-end's rate as `librosa.load(path,
sr=sample_rate, mono=True)` does, with one of two resamplers (`FrontEnd.resampler`):
"kaiser_best" (resampy: librosa 0.9.2's default, the release's pinned version, so its datasets'
front-ends use it) or "soxr_hq" (soxr: librosa >= 0.10's default, and the default for your own
audio; faster and streamable). Both give librosa's length, ceil(n * ratio). A file already at
the front-end's rate is not resampled. `resample=False` is the strict mode: such files are
rejected, naming the path and both rates.

The same function reads audio for training (inside `tf.data`, through `decode_audio`),
conversion and classification, so whatever passes the check at start is what is read later.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from typing import Iterable, Iterator

import numpy as np
import soundfile
import soxr
import tensorflow as tf
from absl import logging
from tqdm.auto import tqdm

from keras_airn.errors import KerasAirnError

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")
RESAMPLE_QUALITY = "soxr_hq"  # librosa >= 0.10's default res_type
RESAMPLERS = ("soxr_hq", "kaiser_best")


class AudioError(KerasAirnError):
    """An audio file is missing, unreadable, empty, non-finite, or at a rate not accepted."""


@dataclasses.dataclass(frozen=True)
class AudioInfo:
    path: str
    num_samples: int
    sample_rate: int
    channels: int

    def samples_at(self, sample_rate: int) -> int:
        """The announced length once resampled to `sample_rate` (librosa's ceil(n * ratio))."""
        if sample_rate == self.sample_rate:
            return self.num_samples
        return int(np.ceil(self.num_samples * sample_rate / self.sample_rate))


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


def check_audio(path: str, sample_rate: int, resample: bool = True) -> AudioInfo:
    """`audio_info`, and in strict mode (`resample=False`) the sample-rate check."""
    info = audio_info(path)
    if not resample and info.sample_rate != sample_rate:
        raise AudioError(
            f"{path}: sample rate {info.sample_rate} Hz, expected {sample_rate} Hz "
            f"(allow resampling, or convert it first, e.g. `sox in -r {sample_rate} out`)."
        )
    return info


def to_mono(samples: np.ndarray) -> np.ndarray:
    """(samples, channels) -> (samples,), the mean of the channels (librosa's `to_mono`)."""
    return samples.mean(axis=1, dtype=np.float32) if samples.shape[1] > 1 else samples[:, 0]


def pcm_samples(samples, what: str) -> np.ndarray:
    """Samples given in memory as float32 mono: the one rule for every API that takes them
    (`AudioClassifier.predict`/`fit`, `StreamScorer.push`).

    Float samples are taken as they are (in [-1, 1]); integer PCM is scaled as soundfile reads it
    (int16 / 32768; unsigned as offset binary, 8-bit WAV). Only mono is taken: a (samples,
    channels) or (channels, samples) array is refused, not flattened or guessed at; mix it down
    first (`x.mean(axis=1)`, as files are read). None, a path, and NaN or infinite samples are
    refused by name.

    Raises:
        ValueError: naming `what` and the problem (TypeError for None or a path).
    """
    if samples is None:
        raise TypeError(f"{what}: got None, not samples.")
    if isinstance(samples, (str, bytes, os.PathLike)):
        raise TypeError(f"{what}: a path ({samples!r}), not a waveform: read it with keras_airn.read_audio, "
                        f"or classify a file with classify_file.")
    samples = np.asarray(samples)
    if samples.dtype == object or not (np.issubdtype(samples.dtype, np.number) or samples.dtype == bool):
        raise TypeError(f"{what}: expected numbers, got an array of {samples.dtype}.")
    if np.issubdtype(samples.dtype, np.unsignedinteger):  # offset binary (8-bit WAV)
        half = 2.0 ** (8 * samples.dtype.itemsize - 1)
        samples = (samples.astype(np.float64) - half) / half
    elif np.issubdtype(samples.dtype, np.integer):
        samples = samples / 2.0 ** (8 * samples.dtype.itemsize - 1)
    samples = samples.astype(np.float32)
    if samples.ndim != 1:
        raise ValueError(f"{what}: expected mono 1-D samples, got shape {samples.shape}; mix channels down first "
                         f"(x.mean(axis=1) for (samples, channels)).")
    if not np.isfinite(samples).all():
        raise ValueError(f"{what}: {int((~np.isfinite(samples)).sum())} NaN or infinite samples.")
    return samples


def resample(samples: np.ndarray, in_rate: int, out_rate: int, resampler: str = RESAMPLE_QUALITY) -> np.ndarray:
    """`samples` (n,) at `in_rate` resampled to `out_rate` by `resampler` (one of `RESAMPLERS`),
    to librosa's length ceil(n * out_rate / in_rate), float32."""
    if len(samples) == 0 or in_rate == out_rate:
        return np.asarray(samples, np.float32)
    if resampler == "kaiser_best":
        import resampy  # numba compiles its kernel on first use: imported only when needed

        out = resampy.resample(np.asarray(samples, np.float32), in_rate, out_rate, filter="kaiser_best")
    elif resampler == RESAMPLE_QUALITY:
        out = soxr.resample(samples, in_rate, out_rate, quality=RESAMPLE_QUALITY)
    else:
        raise ValueError(f"resampler must be one of {list(RESAMPLERS)}, got {resampler!r}.")
    length = int(np.ceil(len(samples) * out_rate / in_rate))
    return np.pad(out, (0, max(0, length - len(out))))[:length].astype(np.float32, copy=False)


def resample_stream(chunks: Iterable[np.ndarray], in_rate: int, out_rate: int,
                    resampler: str = RESAMPLE_QUALITY) -> Iterator[np.ndarray]:
    """`chunks` (float32 mono, any sizes) resampled as they arrive; joined, the output is
    `resample` of the joined input (to 1e-6), for either resampler.

    soxr resamples a stream itself. kaiser_best (resampy) takes whole arrays: the stream is cut
    into blocks that start on a multiple of the rates' period, each resampled with enough input
    around it for the filter, and only its own outputs kept. Holds back that much input (about
    4 ms at 44.1 kHz) until the stream ends.

    Example:
    >>> chunks = np.split(np.random.default_rng(0).standard_normal(44100).astype(np.float32), 7)
    >>> joined = np.concatenate(list(resample_stream(chunks, 44100, 16000, "kaiser_best")))
    >>> bool(np.abs(joined - resample(np.concatenate(chunks), 44100, 16000, "kaiser_best")).max() < 1e-6)
    True
    """
    if in_rate == out_rate:
        yield from chunks
        return
    if resampler == RESAMPLE_QUALITY:
        stream = soxr.ResampleStream(in_rate, out_rate, 1, dtype="float32", quality=RESAMPLE_QUALITY)
        total = given = 0
        for chunk in chunks:
            out = stream.resample_chunk(np.asarray(chunk, np.float32))
            total, given = total + len(chunk), given + len(out)
            yield out
        out = stream.resample_chunk(np.zeros(0, np.float32), last=True)
        length = math.ceil(total * out_rate / in_rate) - given  # `resample`'s length
        yield np.pad(out, (0, max(0, length - len(out))))[:max(0, length)]
        return
    if resampler != "kaiser_best":
        raise ValueError(f"resampler must be one of {list(RESAMPLERS)}, got {resampler!r}.")
    period_in = in_rate // math.gcd(in_rate, out_rate)  # input samples per whole number of outputs
    period_out = out_rate // math.gcd(in_rate, out_rate)
    window, _, table_size = _kaiser_best(in_rate, out_rate)
    reach = math.ceil(len(window) / (min(1.0, out_rate / in_rate) * table_size)) + 2  # half-width, in input samples
    context = math.ceil(reach / period_in) * period_in
    held = np.zeros(0, np.float32)  # input from `start - context` on (less at the stream's start)
    start = 0  # stream index of the first input sample whose outputs are not yet given
    held_from = 0  # stream index of held[0]
    total = 0
    for chunk in chunks:
        held = np.concatenate([held, np.asarray(chunk, np.float32)])
        total += len(chunk)
        end = ((total - context) // period_in) * period_in  # outputs before it have all their input
        if end > start:
            yield _resampled_block(held, held_from, start, end, in_rate, out_rate, period_in, period_out)
            keep_from = max(0, end - context)
            held, held_from, start = held[keep_from - held_from :], keep_from, end
    if total == 0:
        return
    last = _resampled_block(held, held_from, start, None, in_rate, out_rate, period_in, period_out)
    length = math.ceil(total * out_rate / in_rate) - start // period_in * period_out  # `resample`'s length
    yield np.pad(last, (0, max(0, length - len(last))))[:length].astype(np.float32, copy=False)


@functools.lru_cache(maxsize=4)
def _kaiser_best(in_rate: int, out_rate: int):
    """(resampy's kaiser_best filter as `resampy.resample` prepares it for these rates, its
    differences, its taps per input sample), made once: resampy re-reads and re-scales it at
    every call, 10x the work of a 10 ms block."""
    import resampy

    window, table_size, _ = resampy.filters.get_filter("kaiser_best")
    ratio = out_rate / in_rate
    window = ratio * window if ratio < 1 else window
    return window, np.diff(window, append=window[-1]), table_size


def _resampled_block(held, held_from, start, end, in_rate, out_rate, period_in, period_out):
    """resampy's outputs for input samples [start, end) (end None: to the stream's end), from
    `held` (the stream from `held_from`, a multiple of `period_in`): `resampy.resample(held)`'s
    own kernel and steps, with the filter made once."""
    from resampy.interpn import resample_f_s

    window, delta, table_size = _kaiser_best(in_rate, out_rate)
    ratio = out_rate / in_rate
    out = np.zeros(int(len(held) * ratio), np.float32)
    resample_f_s(held, np.arange(len(out)) * (1.0 / ratio), window, delta, table_size, min(1.0, ratio), out)
    first = (start - held_from) // period_in * period_out
    stop = None if end is None else (end - held_from) // period_in * period_out
    return out[first:stop]


def read_audio(path: str, sample_rate: int, resample_audio: bool = True,
               resampler: str = RESAMPLE_QUALITY) -> np.ndarray:
    """Reads a whole file as mono float32 at `sample_rate` (`stream_audio`, joined).

    Args:
        path: WAV (any bit depth), FLAC, OGG or MP3 file.
        sample_rate: the front-end's rate.
        resample_audio: resample files at another rate (False: reject them).
        resampler: one of `RESAMPLERS`.

    Returns:
        float32 array (samples,).

    Raises:
        AudioError: naming the path: missing, unreadable, empty, NaN/Inf samples, or (strict
            mode) another rate.

    Example:
    >>> waveform = read_audio("dog_bark_44k_stereo.flac", 16000)
    """
    _, blocks = stream_audio(path, sample_rate, resample_audio, block_seconds=None, resampler=resampler)
    samples = np.concatenate([np.zeros(0, np.float32), *blocks])
    if samples.shape[0] == 0:
        raise AudioError(f"{path}: empty audio (0 samples).")
    return samples


# Context read on each side of a resampled segment: far more than soxr_hq's filter spans, so the
# segment's samples are the whole file's to float32 rounding (tests/test_audio.py).
SEGMENT_MARGIN_SECONDS = 0.1


def read_audio_segment(path: str, sample_rate: int, first: int, count: int, resample_audio: bool = True,
                       info: AudioInfo | None = None, resampler: str = RESAMPLE_QUALITY) -> np.ndarray:
    """Samples [first, first + count) of `read_audio(path, sample_rate)`, decoding only that part.

    A file at `sample_rate` gives exactly the same samples. Another rate is resampled from a
    stretch with `SEGMENT_MARGIN_SECONDS` of context each side, starting on a sample where the
    two rates' grids meet, so the output grid is the whole file's.

    Args:
        path: audio file.
        sample_rate: the front-end's rate.
        first: first sample, at `sample_rate`.
        count: samples wanted; fewer come back only where the file ends first.
        resample_audio: False rejects files at another rate.
        info: the file's header from `check_audio`, if already read.
        resampler: one of `RESAMPLERS`.

    Returns:
        float32 array (<= count,).
    """
    info = info or check_audio(path, sample_rate, resample_audio)
    first, count = int(first), int(count)
    if info.sample_rate == sample_rate:
        return _read_mono(path, first, first + count)
    divisor = math.gcd(sample_rate, info.sample_rate)
    up, down = sample_rate // divisor, info.sample_rate // divisor
    out_start = max(0, first - int(SEGMENT_MARGIN_SECONDS * sample_rate)) // up * up
    in_start = out_start // up * down
    in_stop = min(info.num_samples, -(-(first + count + int(SEGMENT_MARGIN_SECONDS * sample_rate)) * down // up))
    samples = resample(_read_mono(path, in_start, in_stop), info.sample_rate, sample_rate, resampler)
    if in_stop == info.num_samples:  # librosa's length at the end: ceil(n * ratio), zero-padded
        samples = np.pad(samples, (0, max(0, info.samples_at(sample_rate) - out_start - len(samples))))
    return samples[first - out_start : first - out_start + count].astype(np.float32, copy=False)


def _read_mono(path: str, start: int, stop: int) -> np.ndarray:
    try:
        block, _ = soundfile.read(path, start=start, stop=stop, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError) as error:
        raise AudioError(f"{path}: corrupt audio data ({error}).") from error
    if not np.isfinite(block).all():
        raise AudioError(f"{path}: audio contains NaN or infinite samples.")
    return to_mono(block)


def stream_audio(path: str, sample_rate: int, resample_audio: bool = True,
                 block_seconds: float | None = 10.0,
                 resampler: str = RESAMPLE_QUALITY) -> tuple[int, Iterator[np.ndarray]]:
    """Reads a file block by block as mono float32 at `sample_rate`: memory independent of its length.

    Channels are averaged and other rates resampled with soxr's streaming resampler (the same
    samples as a one-shot `soxr.resample`), to librosa's length ceil(n * ratio). "kaiser_best"
    (resampy) has no streaming form: a file at another rate is then read and resampled whole.

    Args:
        path: audio file.
        sample_rate: the front-end's rate.
        resample_audio: False rejects files at another rate.
        block_seconds: length of the blocks read (None: the whole file in one block).
        resampler: one of `RESAMPLERS`.

    Returns:
        (number of samples the header announces, at `sample_rate`; an iterator of consecutive
        float32 blocks). A cut-off file yields fewer samples than announced (with a warning).
    """
    info = check_audio(path, sample_rate, resample_audio)
    ratio = sample_rate / info.sample_rate
    if resampler != RESAMPLE_QUALITY and info.sample_rate != sample_rate:
        return info.samples_at(sample_rate), iter([resample(_read_mono(path, 0, info.num_samples), info.sample_rate,
                                                            sample_rate, resampler)])

    def blocks():
        resampler = (soxr.ResampleStream(info.sample_rate, sample_rate, 1, dtype="float32",
                                         quality=RESAMPLE_QUALITY) if info.sample_rate != sample_rate else None)
        size = info.num_samples if block_seconds is None else max(1, int(block_seconds * info.sample_rate))
        read = written = 0
        try:
            for block in soundfile.blocks(path, blocksize=size, dtype="float32", always_2d=True):
                if not np.isfinite(block).all():
                    raise AudioError(f"{path}: audio contains NaN or infinite samples.")
                read += block.shape[0]
                out = resampler.resample_chunk(to_mono(block)) if resampler else to_mono(block)
                written += out.shape[0]
                yield out
        except (soundfile.LibsndfileError, RuntimeError) as error:
            raise AudioError(f"{path}: corrupt audio data ({error}).") from error
        if read < info.num_samples:
            logging.warning("%s: the data ends after %d of the %d samples its header announces (a cut-off "
                            "file?); using what is there.", path, read, info.num_samples)
        if resampler:  # the resampler's tail, then librosa's length: ceil(samples read * ratio)
            tail = resampler.resample_chunk(np.zeros(0, np.float32), last=True)
            missing = int(np.ceil(read * ratio)) - written
            yield np.pad(tail, (0, max(0, missing - tail.shape[0])))[: max(0, missing)].astype(np.float32, copy=False)

    return info.samples_at(sample_rate), blocks()


def verify_audio_files(
    paths: Iterable[str], sample_rate: int, resample_audio: bool = True, desc: str = "checking audio",
    progress: bool = True,
) -> tuple[dict[str, AudioInfo], dict[str, str]]:
    """Checks every file's header before a long job starts.

    Args:
        paths: audio files.
        sample_rate: the front-end's rate.
        resample_audio: False rejects files at another rate.
        desc: progress-bar label.
        progress: show the progress bar.

    Returns:
        ({good path: its header}, {bad path: reason}).
    """
    good, bad = {}, {}
    for path in tqdm(list(paths), desc=desc, unit="file", leave=False, disable=not progress):
        try:
            good[path] = check_audio(path, sample_rate, resample_audio)
        except AudioError as error:
            bad[path] = str(error)
    return good, bad


def decode_audio(path, sample_rate: int):
    """`read_audio` inside a TensorFlow graph (e.g. a `tf.data` map), resampling as needed.

    Args:
        path: scalar string tensor.
        sample_rate: the front-end's rate.

    Returns:
        float32 tensor (samples,), mono.
    """

    def read(p):  # bytes in a graph, a 0-d bytes array when run eagerly
        return read_audio(np.asarray(p).item().decode(), sample_rate)

    audio = tf.numpy_function(read, [tf.convert_to_tensor(path, tf.string)], tf.float32, stateful=False)
    return tf.ensure_shape(audio, [None])


def load_waveform(path, start, stop, sample_rate: int):
    """Decodes a file, or its [start, stop) segment in samples at `sample_rate` (stop < 0: to end).

    Returns:
        float32 tensor (samples,).
    """
    audio = decode_audio(path, sample_rate)
    stop = tf.where(stop < 0, tf.cast(tf.shape(audio)[0], tf.int64), tf.cast(stop, tf.int64))
    return audio[tf.cast(start, tf.int64):stop]
