"""Augmentation of training crops before SpecAugment: random gain, speed, equaliser, noise, DC
offset and frequency warp (docs/real_audio.md).

Not in the release (its recipe is SpecAugment only; `release` leaves them off). They target what
a new speaker or microphone changes: a log-mel without per-clip normalisation shifts with a
recording's level (gain) and a microphone's response (equaliser: a smooth random curve over the
mel bands, added to the log-mel), a voice's pitch and pace move every band (speed), and a
recording's noise floor fills the bands between words (noise: Gaussian noise of a random colour
at a random signal-to-noise ratio), a converter's bias adds a constant to every sample (DC
offset: it lands in the lowest mel bands), and a longer or shorter vocal tract moves a voice's
formants up or down the frequency axis while its tempo stays (frequency warp: vocal tract
length perturbation, Jaitly and Hinton 2013, on the log-mel's bands).
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from keras_airn.data.audio import resample
from keras_airn.data.features import hz_to_mel_htk, mel_to_hz_htk
from keras_airn.errors import check_range


@dataclasses.dataclass(frozen=True)
class WaveAugment:
    """Random gain, speed, equaliser, noise, DC offset and frequency warp of a training crop, from
    draws of a uniform in [0, 1).

    Args:
        gain_db: the gain is uniform in [-gain_db, gain_db] decibels.
        speed: the speed factor is uniform in [1 - speed, 1 + speed]; a factor s plays the crop s
            times faster (shorter, higher in pitch), as resampling it by 1/s does.
        equalizer_db: the largest gain, in decibels, of a random smooth response over the mel
            bands (three cosines, each weight uniform in [-1, 1], scaled so that it never exceeds it).
        noise_snr_db: the lowest signal-to-noise ratio of added Gaussian noise, in decibels (0: no
            noise); the ratio is uniform in [noise_snr_db, noise_snr_db + 30] and the noise's power
            spectrum goes as 1 / f^b, b uniform in [0, 2] (white to brown).
        dc_offset: a constant added to every sample, uniform in [-dc_offset, dc_offset] times the
            crop's root-mean-square level.
        freq_warp: the log-mel's frequency axis is scaled by a factor uniform in [1 - freq_warp,
            1 + freq_warp]: a factor a moves what was at f Hz to a * f Hz, the frames untouched.

    Example:
    >>> augment = WaveAugment(gain_db=6.0, speed=0.1)
    >>> round(augment.gain(1.0), 3), round(augment.speed_factor(0.0), 3)   # +6 dB, 0.9x
    (1.995, 0.9)
    """

    gain_db: float = 0.0
    speed: float = 0.0
    equalizer_db: float = 0.0
    noise_snr_db: float = 0.0
    dc_offset: float = 0.0
    freq_warp: float = 0.0

    DRAWS = 10  # gain, speed, three equaliser weights, noise ratio, colour and seed, DC offset, warp
    EQUALIZER_DRAWS = slice(2, 5)
    NOISE_DRAWS = slice(5, 8)
    DC_DRAW = 8
    WARP_DRAW = 9
    NOISE_SPAN_DB = 30.0

    def __post_init__(self):
        for name, high in (("gain_db", 60), ("speed", 0.5), ("equalizer_db", 60), ("noise_snr_db", 60),
                           ("freq_warp", 0.5)):
            check_range(name, getattr(self, name), 0, high)
        check_range("dc_offset", self.dc_offset, 0, 1, include_high=True)

    @property
    def active(self) -> bool:
        return any(getattr(self, field.name) > 0 for field in dataclasses.fields(self))

    def equalize(self, log_mel: np.ndarray, weights) -> np.ndarray:
        """`log_mel` (frames, bands) of magnitudes plus the drawn response (natural-log units).

        Example:
        >>> curve = WaveAugment(equalizer_db=6.0).equalize(np.zeros((1, 64), np.float32), [1.0, 0.5, 0.5])
        >>> bool(abs(curve).max() <= 6.0 / 20 * np.log(10) + 1e-6)
        True
        """
        if self.equalizer_db <= 0:
            return log_mel
        bands = log_mel.shape[-1]
        position = np.arange(bands) / max(bands - 1, 1)
        weights = 2.0 * np.asarray(weights, np.float64) - 1.0
        curve = sum(w * np.cos(np.pi * (k + 1) * position) for k, w in enumerate(weights)) / len(weights)
        return (log_mel + self.equalizer_db / 20.0 * np.log(10.0) * curve).astype(np.float32)

    def warp_frequencies(self, log_mel: np.ndarray, sample_rate: int, uniform: float) -> np.ndarray:
        """`log_mel` (frames, bands of an HTK mel scale from 0 to sample_rate / 2) with its
        frequency axis scaled by the drawn factor.

        Each band takes the log-mel at its centre frequency divided by the factor, interpolated
        linearly between the two nearest bands (the lowest or highest band beyond the ends).

        Args:
            log_mel: float32 (frames, bands).
            sample_rate: the rate of the crop the log-mel was taken from.
            uniform: a draw from U[0, 1); 0.5 warps nothing.

        Returns:
            float32 (frames, bands).

        Example:
        >>> log_mel = np.zeros((1, 64), np.float32); log_mel[0, 20] = 1.0
        >>> up = WaveAugment(freq_warp=0.2).warp_frequencies(log_mel, 16000, 1.0)   # 1.2x
        >>> int(up.argmax()) > 20
        True
        """
        factor = 1.0 + (2.0 * uniform - 1.0) * self.freq_warp
        if factor == 1.0:
            return log_mel
        bands = log_mel.shape[-1]
        top, centres = _band_centres(bands, sample_rate)
        source = np.clip(hz_to_mel_htk(centres / factor) / top * (bands + 1) - 1.0, 0.0, bands - 1.0)
        below = np.floor(source).astype(int)
        above = np.minimum(below + 1, bands - 1)
        share = (source - below).astype(np.float32)
        return (log_mel[..., below] * (1.0 - share) + log_mel[..., above] * share).astype(np.float32)

    def gain(self, uniform: float) -> float:
        return float(10.0 ** ((2.0 * uniform - 1.0) * self.gain_db / 20.0))

    def speed_factor(self, uniform: float) -> float:
        return 1.0 + (2.0 * uniform - 1.0) * self.speed

    def apply(self, crop: np.ndarray, sample_rate: int, gain_uniform: float, speed_uniform: float,
              samples: int) -> np.ndarray:
        """The crop played at the drawn speed, cut to at most `samples`, times the drawn gain.

        Args:
            crop: float32 (n,) samples read for this crop (`samples_to_read` of them).
            sample_rate: its rate.
            gain_uniform, speed_uniform: draws from U[0, 1).
            samples: the crop's length after the speed change (at most).

        Returns:
            float32 (<= samples,).
        """
        factor = self.speed_factor(speed_uniform)
        if factor != 1.0:
            crop = resample(crop, sample_rate * factor, sample_rate)
        return (crop[:samples] * self.gain(gain_uniform)).astype(np.float32)

    def samples_to_read(self, samples: int, speed_uniform: float) -> int:
        """Samples to read so that the crop, played at the drawn speed, lasts `samples`."""
        return int(np.ceil(samples * self.speed_factor(speed_uniform)))

    def add_noise(self, crop: np.ndarray, snr_uniform: float, colour_uniform: float, seed_uniform: float) -> np.ndarray:
        """The crop plus Gaussian noise at the drawn signal-to-noise ratio and colour.

        The ratio is taken against the crop's mean power; a silent crop is returned as it is.

        Args:
            crop: float32 (n,) samples.
            snr_uniform, colour_uniform, seed_uniform: draws from U[0, 1) (ratio, spectral slope,
                the noise's own seed).

        Returns:
            float32 (n,).

        Example:
        >>> crop = np.sin(np.arange(16000) * 0.1).astype(np.float32)
        >>> noisy = WaveAugment(noise_snr_db=20.0).add_noise(crop, 0.0, 0.0, 0.5)   # 20 dB, white
        >>> round(float(10 * np.log10(np.mean(crop**2) / np.mean((noisy - crop)**2))), 1)
        20.0
        """
        power = _mean_power(crop)
        if self.noise_snr_db <= 0 or power <= 0:
            return crop
        snr_db = self.noise_snr_db + snr_uniform * self.NOISE_SPAN_DB
        white = np.random.default_rng(int(seed_uniform * 2**32)).standard_normal(len(crop))
        spectrum = np.fft.rfft(white)
        frequency = np.arange(len(spectrum), dtype=np.float64)
        frequency[0] = frequency[1] if len(frequency) > 1 else 1.0
        noise = np.fft.irfft(spectrum * frequency ** (-colour_uniform), len(crop))  # power ~ 1 / f^(2 draw)
        noise *= np.sqrt(power / 10.0 ** (snr_db / 10.0) / max(float(np.mean(noise**2)), 1e-30))
        return (crop + noise).astype(np.float32)

    def add_dc_offset(self, crop: np.ndarray, uniform: float) -> np.ndarray:
        """The crop plus the drawn constant (a share of its root-mean-square level).

        Args:
            crop: float32 (n,) samples.
            uniform: a draw from U[0, 1); 0.5 adds nothing.

        Returns:
            float32 (n,).

        Example:
        >>> crop = np.sin(np.arange(8000) * 0.1).astype(np.float32)   # RMS 0.707
        >>> shifted = WaveAugment(dc_offset=0.3).add_dc_offset(crop, 1.0)   # the largest: +0.3 x RMS
        >>> round(float((shifted - crop).mean()), 3)
        0.212
        """
        if self.dc_offset <= 0 or not len(crop):
            return crop
        level = np.sqrt(_mean_power(crop))
        return (crop + (2.0 * uniform - 1.0) * self.dc_offset * level).astype(np.float32)


@functools.lru_cache(maxsize=8)
def _band_centres(bands: int, sample_rate: int) -> tuple[float, np.ndarray]:
    """The top of the HTK mel scale (sample_rate / 2) and the bands' centre frequencies in Hz,
    computed once per front-end rather than for every crop."""
    top = float(hz_to_mel_htk(sample_rate / 2.0))
    return top, mel_to_hz_htk(np.linspace(0.0, top, bands + 2))[1:-1]


def _mean_power(crop: np.ndarray) -> float:
    """The crop's mean square (0 for an empty crop), in float64."""
    return float(np.mean(np.square(crop, dtype=np.float64))) if len(crop) else 0.0
