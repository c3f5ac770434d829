"""The log-mel front-end of the release (docs/reference.md, section 1).

`log_mel_spectrogram` reproduces librosa's `stft(center=True, pad_mode="constant")` magnitude,
an HTK mel filterbank without normalisation, and `log(mel + 1e-6)` in TensorFlow ops, so that it
can live inside a model (`LogMelSpectrogram`, waveform-input TFLite files). `host_log_mel` is the
same transform on the host (SciPy's float64 FFT, the filterbank as a sparse matrix): about twice
as fast on one core, it feeds the data pipelines and runtimes through `clip_features`. `FrontEnd`
holds a dataset's clip settings, and the crop helpers implement the release's training and
evaluation crops.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os

import keras
import numpy as np
import scipy.fft
import scipy.sparse
import tensorflow as tf

from keras_airn.errors import KerasAirnError, check_choice

LOG_OFFSET = 1e-6
FRONT_END_FILE = "front_end.json"


class FrontEndError(KerasAirnError):
    """No front-end settings where they are needed, or unreadable ones."""


SHORT_CLIP_PADDINGS = ("last_frame", "edge_sample")


@dataclasses.dataclass(frozen=True)
class FrontEnd:
    """Front-end settings of one dataset.

    Args:
        sample_rate: Hz.
        clip_seconds: clip length; a crop is `round(sample_rate * clip_seconds) - 1` samples.
        window_ms: STFT window length.
        hop_ms: STFT hop.
        eval_views: evenly spaced crops averaged at evaluation.
        n_mels: mel bands.
        n_fft: FFT size (the window is zero-padded to it).
        short_clip_padding: how a recording shorter than a clip is filled: "last_frame" (its
            log-mel's last frame repeated: the release's VGG-Sound loader and most others) or
            "edge_sample" (its last sample repeated up to `clip_size - 1` samples before the
            log-mel: the release's UrbanSound8K loader, librosa `fix_length(mode="edge")`).
        resampler: how files at another rate are resampled (`keras_airn.data.audio.RESAMPLERS`):
            "soxr_hq" (the default for your own audio) or "kaiser_best" (the release's
            datasets: librosa 0.9.2's default, through resampy).
    """

    sample_rate: int = 16000
    clip_seconds: float = 5.119
    window_ms: float = 20.0
    hop_ms: float = 10.0
    eval_views: int = 2
    n_mels: int = 128
    n_fft: int = 2048
    short_clip_padding: str = "last_frame"
    resampler: str = "soxr_hq"

    def __post_init__(self):
        from keras_airn.data.audio import RESAMPLERS

        check_choice("resampler", self.resampler, RESAMPLERS, FrontEndError)
        check_choice("short_clip_padding", self.short_clip_padding, SHORT_CLIP_PADDINGS, FrontEndError)

    @property
    def clip_size(self) -> int:
        """The release's clip size in samples; crops are one sample shorter than this."""
        return int(round(self.sample_rate * self.clip_seconds))

    @property
    def num_frames(self) -> int:
        """Frames T of a full crop: 1 + (clip_size - 1) // hop (512 for VGG-Sound)."""
        return num_frames_for(self.clip_size - 1, self.hop_length)

    @property
    def win_length(self) -> int:
        return samples_of(self.window_ms, self.sample_rate)

    @property
    def hop_length(self) -> int:
        return samples_of(self.hop_ms, self.sample_rate)

    def to_config(self) -> dict:
        return {**dataclasses.asdict(self), "num_frames": self.num_frames}

    @classmethod
    def from_config(cls, config: dict) -> "FrontEnd":
        return cls(**{k: v for k, v in config.items() if k != "num_frames"})

    def save(self, directory: str) -> str:
        """Writes `front_end.json` into `directory` atomically; returns its path."""
        from keras_airn import files

        path = os.path.join(directory, FRONT_END_FILE)
        files.write_json(path, self.to_config())
        return path

    @classmethod
    def load(cls, path: str) -> "FrontEnd":
        """Reads a `front_end.json`."""
        try:
            with open(path) as handle:
                return cls.from_config(json.load(handle))
        except (OSError, ValueError, TypeError) as error:
            raise FrontEndError(f"{path}: not a readable front-end file ({error}).") from error

    @classmethod
    def resolve(cls, spec: str) -> "FrontEnd":
        """A release dataset's settings by name (`FRONT_ENDS`), or a `front_end.json` file."""
        if spec in FRONT_ENDS:
            return FRONT_ENDS[spec]
        if not os.path.isfile(spec):
            raise FrontEndError(f"{spec!r} is neither a front_end.json file nor one of {sorted(FRONT_ENDS)}.")
        return cls.load(spec)

    @classmethod
    def beside_model(cls, model_path: str, spec: str | None = None) -> "FrontEnd":
        """The settings `spec` names (see `resolve`), else `front_end.json` beside the model (or in
        its folder), as training and export write it.

        Raises:
            FrontEndError: neither is there. A model does not record its clip length, and
                guessing one gives wrong features without an error.
        """
        if spec:
            return cls.resolve(spec)
        folder = model_path if os.path.isdir(model_path) else os.path.dirname(os.path.abspath(model_path))
        path = os.path.join(folder, FRONT_END_FILE)
        if not os.path.isfile(path):
            raise FrontEndError(f"No {FRONT_END_FILE} beside {model_path}: pass --front_end with the model's "
                                f"front_end.json or a release dataset name ({', '.join(sorted(FRONT_ENDS))}).")
        return cls.load(path)


# The release's per-dataset settings (docs/reference.md, section 1).
FRONT_ENDS = {
    "vggsound": FrontEnd(clip_seconds=5.119, window_ms=20, hop_ms=10, eval_views=2, resampler="kaiser_best"),
    # EPIC configs set no rate: the release's default, 24 kHz (slowfast/config/defaults.py).
    "epic_sounds": FrontEnd(clip_seconds=2.08, window_ms=10, hop_ms=5, eval_views=5, sample_rate=24000,
                            resampler="kaiser_best"),
    "speechcommands": FrontEnd(clip_seconds=1.023, window_ms=5, hop_ms=2, eval_views=1, resampler="kaiser_best"),
    # UrbanSound8K's loader pads a short recording with its last sample before the log-mel.
    "urbansound8k": FrontEnd(clip_seconds=4.16, window_ms=20, hop_ms=10, eval_views=2,
                             short_clip_padding="edge_sample", resampler="kaiser_best"),
    "nsynth": FrontEnd(clip_seconds=4.16, window_ms=20, hop_ms=10, eval_views=1, resampler="kaiser_best"),
}


def hz_to_mel_htk(hz):
    return 2595.0 * np.log10(1.0 + np.asarray(hz, np.float64) / 700.0)


def mel_to_hz_htk(mel):
    return 700.0 * (10.0 ** (np.asarray(mel, np.float64) / 2595.0) - 1.0)


def mel_filterbank(sample_rate: int = FrontEnd.sample_rate, n_fft: int = FrontEnd.n_fft,
                   n_mels: int = FrontEnd.n_mels) -> np.ndarray:
    """Triangular HTK-mel filterbank, fmin 0, fmax sr/2, no area normalisation.

    Triangles are linear in Hz between mel-spaced edges (librosa `filters.mel(htk=True,
    norm=None)`).

    Returns:
        float32 array (n_mels, n_fft // 2 + 1).
    """
    fft_freqs = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    edges = mel_to_hz_htk(np.linspace(0.0, hz_to_mel_htk(sample_rate / 2.0), n_mels + 2))
    widths = np.diff(edges)
    distance = edges[:, None] - fft_freqs[None, :]
    rising = -distance[:-2] / widths[:-1, None]
    falling = distance[2:] / widths[1:, None]
    return np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)


def periodic_hann(length: int) -> np.ndarray:
    """Periodic Hann window (scipy `get_window("hann", length, fftbins=True)`), float64."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(length) / length)


def num_frames_for(num_samples: int, hop_length: int) -> int:
    """Frames of a centred STFT: 1 + num_samples // hop."""
    return 1 + num_samples // hop_length


def samples_of(milliseconds: float, sample_rate: int) -> int:
    """Samples in `milliseconds` at `sample_rate`, rounded: window and hop lengths."""
    return int(round(milliseconds * sample_rate / 1000))


def log_mel_spectrogram(
    waveform,
    sample_rate: int = FrontEnd.sample_rate,
    window_ms: float = FrontEnd.window_ms,
    hop_ms: float = FrontEnd.hop_ms,
    n_mels: int = FrontEnd.n_mels,
    n_fft: int = FrontEnd.n_fft,
):
    """Log-mel spectrogram of the release, in TensorFlow ops.

    Args:
        waveform: float32 samples in [-1, 1], shape (samples,) or (batch, samples).
        sample_rate: Hz.
        window_ms: window length; the periodic Hann window is centred in `n_fft`.
        hop_ms: hop length.
        n_mels: mel bands.
        n_fft: FFT size.

    Returns:
        float32 tensor (frames, n_mels) or (batch, frames, n_mels), frames = 1 + samples // hop.
    """
    # float64 inside: TF's float32 FFT leaks ~1e-7 of a loud frame's peak into quiet bins, which
    # the log turns into errors of ~2e-3 against librosa; its float64 FFT is exact.
    waveform = tf.cast(tf.convert_to_tensor(waveform, tf.float32), tf.float64)
    if waveform.shape.rank not in (1, 2):
        raise ValueError(f"waveform must be (samples,) or (batch, samples); got shape {waveform.shape}.")
    win_length, hop_length = samples_of(window_ms, sample_rate), samples_of(hop_ms, sample_rate)
    if not 0 < win_length <= n_fft:
        raise ValueError(f"window of {win_length} samples does not fit n_fft={n_fft}.")
    num_samples = tf.shape(waveform)[-1]
    frames_out = 1 + num_samples // hop_length
    # Centred frames of n_fft samples over a signal zero-padded by n_fft // 2 on both sides; only
    # the window's win_length samples at offset (n_fft - win_length) // 2 are non-zero, and the
    # magnitude of a shifted frame's DFT is unchanged, so frame just those samples.
    offset = (n_fft - win_length) // 2
    paddings = [[0, 0]] * (waveform.shape.rank - 1) + [[n_fft // 2 - offset, n_fft // 2]]
    padded = tf.pad(waveform, paddings)
    frames = tf.signal.frame(padded, win_length, hop_length, axis=-1)[..., :frames_out, :]
    window = tf.constant(periodic_hann(win_length), tf.float64)
    spectrum = tf.cast(tf.abs(tf.signal.rfft(frames * window, fft_length=[n_fft])), tf.float32)
    # The mel sum has only non-negative terms (no cancellation), so float32 is exact enough here.
    mel = tf.tensordot(spectrum, tf.constant(mel_filterbank(sample_rate, n_fft, n_mels).T), axes=1)
    return tf.math.log(mel + LOG_OFFSET)


# 64 frames of a 2048-point FFT: about 1 MB of float64 in and complex128 out, which stays in the
# L2 cache (faster than one transform of all 512 frames: docs/benchmarks.md).
_HOST_FRAMES_PER_BLOCK = 64


@functools.lru_cache(maxsize=8)
def _host_transform(sample_rate: int, win_length: int, n_fft: int, n_mels: int):
    """(window, filterbank as CSR) of `host_log_mel`: each band spans a few of the bins."""
    basis = scipy.sparse.csr_matrix(mel_filterbank(sample_rate, n_fft, n_mels))
    return periodic_hann(win_length), basis


def host_log_mel(waveform: np.ndarray, front_end: FrontEnd) -> np.ndarray:
    """`log_mel_spectrogram` in NumPy/SciPy: the same frames, window, float64 FFT and filterbank.

    Args:
        waveform: float32 samples (samples,).
        front_end: settings.

    Returns:
        float32 (1 + samples // hop, n_mels).
    """
    return host_log_mel_of_frames(host_frames(waveform, front_end), front_end)


def host_frames(waveform: np.ndarray, front_end: FrontEnd) -> np.ndarray:
    """The analysis frames of `host_log_mel`: a (1 + samples // hop, win_length) float64 view.

    As in `log_mel_spectrogram`, only the window's non-zero span of each centred frame: frame j
    holds samples [j * hop - left, j * hop - left + win_length) of the zero-padded waveform,
    left = n_fft // 2 - (n_fft - win_length) // 2.
    """
    win_length, hop_length, n_fft = front_end.win_length, front_end.hop_length, front_end.n_fft
    left = n_fft // 2 - (n_fft - win_length) // 2
    padded = np.pad(np.asarray(waveform, np.float64), (left, n_fft // 2))
    frames = np.lib.stride_tricks.sliding_window_view(padded, win_length)[::hop_length]
    return frames[: num_frames_for(len(waveform), hop_length)]


def host_log_mel_of_frames(frames: np.ndarray, front_end: FrontEnd) -> np.ndarray:
    """Log-mel (frames, n_mels) float32 of analysis frames (`host_frames`), one frame at a time in
    effect: each row's result does not depend on the others."""
    window, basis = _host_transform(front_end.sample_rate, front_end.win_length, front_end.n_fft, front_end.n_mels)
    mel = np.empty((front_end.n_mels, len(frames)), np.float32)
    for first in range(0, len(frames), _HOST_FRAMES_PER_BLOCK):  # blocks stay in the L2 cache
        block = frames[first : first + _HOST_FRAMES_PER_BLOCK]
        magnitude = np.abs(scipy.fft.rfft(block * window, n=front_end.n_fft)).astype(np.float32)
        mel[:, first : first + len(block)] = basis.dot(np.ascontiguousarray(magnitude.T))
    return np.ascontiguousarray(np.log(mel.T + np.float32(LOG_OFFSET)))


def with_frame_multiple(front_end: FrontEnd, multiple: int) -> FrontEnd:
    """The front-end with its crop lengthened to the next whole multiple of `multiple` frames (a
    network's total stride along time); the same front-end when it already is one.

    Example:
    >>> FrontEnd(sample_rate=8000, clip_seconds=0.7).num_frames
    70
    >>> with_frame_multiple(FrontEnd(sample_rate=8000, clip_seconds=0.7), 8).num_frames
    72
    """
    frames = -(-front_end.num_frames // multiple) * multiple
    if frames == front_end.num_frames:
        return front_end
    clip_size = frames * front_end.hop_length  # a crop of clip_size - 1 samples: exactly `frames` frames
    return dataclasses.replace(front_end, clip_seconds=round(clip_size / front_end.sample_rate, 6))


def crop_starts(num_samples, front_end: FrontEnd, views: int):
    """Evenly spaced evaluation crop starts over [0, num_samples - clip_size] (floor).

    Returns:
        int32 tensor (views,).
    """
    delta = tf.maximum(tf.cast(num_samples, tf.float64) - front_end.clip_size, 0.0)
    return tf.cast(tf.floor(tf.linspace(tf.constant(0.0, tf.float64), delta, views)), tf.int32)


def random_crop_start(num_samples: int, front_end: FrontEnd, uniform: float) -> int:
    """The release's training crop start, floor(u * max(num_samples - clip_size, 0)).

    Args:
        num_samples: samples of the recording.
        front_end: settings.
        uniform: a draw from U[0, 1) (the pipeline's is stateless in (seed, epoch, example)).
    """
    return int(np.floor(np.float64(uniform) * max(float(num_samples) - front_end.clip_size, 0.0)))


def clip_length(num_samples: int, front_end: FrontEnd) -> int:
    """Samples the release transforms from a crop: `clip_size - 1` of a recording at least
    `clip_size` long, the whole of a shorter one (whose frames `pad_frames` then pads)."""
    return front_end.clip_size - 1 if num_samples >= front_end.clip_size else int(num_samples)


def host_clip_features(waveform: np.ndarray, start: int, front_end: FrontEnd) -> np.ndarray:
    """`host_log_mel` of the crop starting at `start` (`clip_length` samples), before frame
    padding; a shorter recording with "edge_sample" padding is first filled to `clip_size - 1`
    samples with its last one."""
    start = int(start)
    crop = waveform[start : start + clip_length(len(waveform), front_end)]
    if front_end.short_clip_padding == "edge_sample" and 0 < len(crop) < front_end.clip_size - 1:
        crop = np.pad(crop, (0, front_end.clip_size - 1 - len(crop)), mode="edge")
    return host_log_mel(crop, front_end)


def clip_features(waveform, start, front_end: FrontEnd):
    """Log-mel of the crop starting at `start`, as the release computes it, in a TF graph or eagerly.

    A recording at least `clip_size` long is cropped to `clip_size - 1` samples; a shorter one is
    transformed whole and its frames padded by repeating the last one up to `num_frames`.

    Args:
        waveform: float32 (samples,).
        start: crop start (scalar int tensor).
        front_end: settings.

    Returns:
        float32 (num_frames, n_mels).
    """
    features = tf.numpy_function(lambda w, s: host_clip_features(w, s, front_end),
                                 [tf.convert_to_tensor(waveform, tf.float32), tf.cast(start, tf.int64)],
                                 tf.float32, stateful=False)
    return pad_frames(tf.ensure_shape(features, [None, front_end.n_mels]), front_end.num_frames)


def view_features(waveform, front_end: FrontEnd, views: int):
    """`clip_features` of `views` evenly spaced crops (`crop_starts`): the evaluation views.

    Args:
        waveform: float32 (samples,).
        front_end: settings.
        views: crops.

    Returns:
        float32 (views, num_frames, n_mels).
    """
    waveform = tf.convert_to_tensor(waveform, tf.float32)
    return tf.map_fn(lambda start: clip_features(waveform, start, front_end), crop_starts(tf.shape(waveform)[0], front_end, views),
                     fn_output_signature=tf.TensorSpec([front_end.num_frames, front_end.n_mels], tf.float32))


def pad_frames(features, num_frames: int):
    """Pads (frames, bins) to `num_frames` by repeating the last frame; longer input is cut."""
    missing = tf.maximum(num_frames - tf.shape(features)[0], 0)
    last = tf.repeat(features[-1:], missing, axis=0)
    padded = tf.concat([features, last], axis=0)[:num_frames]
    return tf.ensure_shape(padded, [num_frames, features.shape[-1]])


@keras.saving.register_keras_serializable(package="keras_airn")
class LogMelSpectrogram(keras.layers.Layer):
    """Keras layer form of `log_mel_spectrogram`: (batch, samples) -> (batch, frames, n_mels, 1).

    TensorFlow backend only (it uses `tf.signal`).

    Args:
        sample_rate, window_ms, hop_ms, n_mels, n_fft: as `log_mel_spectrogram`.

    Example:
    >>> inputs = keras.Input((81903,))
    >>> log_mel = LogMelSpectrogram()(inputs)   # (None, 512, 128, 1)
    """

    def __init__(self, sample_rate=FrontEnd.sample_rate, window_ms=FrontEnd.window_ms, hop_ms=FrontEnd.hop_ms,
                 n_mels=FrontEnd.n_mels, n_fft=FrontEnd.n_fft, **kwargs):
        super().__init__(**kwargs)
        self.sample_rate = sample_rate
        self.window_ms = window_ms
        self.hop_ms = hop_ms
        self.n_mels = n_mels
        self.n_fft = n_fft

    def call(self, waveform):
        features = log_mel_spectrogram(
            waveform, self.sample_rate, self.window_ms, self.hop_ms, self.n_mels, self.n_fft
        )
        return features[..., None]

    def compute_output_shape(self, input_shape):
        hop = samples_of(self.hop_ms, self.sample_rate)
        frames = None if input_shape[-1] is None else num_frames_for(input_shape[-1], hop)
        return (*input_shape[:-1], frames, self.n_mels, 1)

    def get_config(self):
        config = super().get_config()
        config.update(
            sample_rate=self.sample_rate,
            window_ms=self.window_ms,
            hop_ms=self.hop_ms,
            n_mels=self.n_mels,
            n_fft=self.n_fft,
        )
        return config
