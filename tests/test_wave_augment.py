"""Gain, speed, equaliser, noise, DC offset and frequency warp of training crops: neutral draws change nothing, each does what it
says, and the pipeline stays a function of (seed, epoch, example)."""

import numpy as np
import soundfile
import tensorflow as tf

from keras_airn.data.datasets import Example
from keras_airn.data.features import FrontEnd, hz_to_mel_htk, mel_to_hz_htk
from keras_airn.training.pipeline import _crop_features, train_dataset
from keras_airn.training.recipes import recipe
from keras_airn.training.wave_augment import WaveAugment

FRONT_END = FrontEnd(clip_seconds=1.0)
AUGMENT = WaveAugment(gain_db=6.0, speed=0.2, equalizer_db=12.0, dc_offset=0.3, freq_warp=0.2)
NEUTRAL = (0.5,) * WaveAugment.DRAWS


def _draws(**changed):
    """NEUTRAL with draws changed by position name: gain, speed, eq0..eq2, snr, colour, noise_seed, dc, warp."""
    names = ("gain", "speed", "eq0", "eq1", "eq2", "snr", "colour", "noise_seed", "dc", "warp")
    return tuple(changed.get(name, 0.5) for name in names)


def _tone(path, seconds, rate=8000):
    t = np.arange(int(seconds * rate)) / rate
    soundfile.write(path, (0.3 * np.sin(2 * np.pi * 440 * t) * np.hanning(len(t))).astype(np.float32), rate)
    return path


def test_neutral_draws_change_nothing_and_each_draw_does_what_it_says(tmp_path):
    for seconds in (0.4, 2.0):  # shorter and longer than a crop
        path = _tone(str(tmp_path / f"{seconds}.wav"), seconds)
        plain = _crop_features(path, 0, -1, 0.3, FRONT_END)
        np.testing.assert_array_equal(_crop_features(path, 0, -1, 0.3, FRONT_END, AUGMENT, NEUTRAL), plain)
    short = str(tmp_path / "0.4.wav")
    plain = _crop_features(short, 0, -1, 0.0, FRONT_END)
    louder = _crop_features(short, 0, -1, 0.0, FRONT_END, AUGMENT, _draws(gain=1.0))
    loud = plain > np.percentile(plain, 90)  # +6 dB of amplitude where the tone is
    np.testing.assert_allclose((louder - plain)[loud], 6 / 20 * np.log(10), atol=1e-3)
    slower = _crop_features(short, 0, -1, 0.0, FRONT_END, AUGMENT, _draws(speed=0.0))
    assert slower.shape[0] == round(plain.shape[0] / 0.8)  # 0.8x speed: 1.25x the frames
    tilted = _crop_features(short, 0, -1, 0.0, FRONT_END, AUGMENT, _draws(eq0=1.0))
    shift = (tilted - plain).mean(axis=0)
    np.testing.assert_allclose(shift[[0, -1]], [12 / 20 * np.log(10) / 3, -12 / 20 * np.log(10) / 3], atol=1e-5)
    biased = _crop_features(short, 0, -1, 0.0, FRONT_END, AUGMENT, _draws(dc=1.0))
    rise = (biased - plain).mean(axis=0)
    assert rise[:3].min() > 10 * np.median(rise[20:]) > 0  # a constant lands in the lowest bands
    centres = mel_to_hz_htk(np.linspace(0.0, hz_to_mel_htk(FRONT_END.sample_rate / 2), FRONT_END.n_mels + 2))[1:-1]
    for warp, factor in ((1.0, 1.2), (0.0, 0.8)):  # the tone's 440 Hz moves to factor x 440 Hz, its frames stay
        warped = _crop_features(short, 0, -1, 0.0, FRONT_END, AUGMENT, _draws(warp=warp))
        assert warped.shape == plain.shape
        peak = centres[warped.mean(axis=0).argmax()]
        assert abs(peak - factor * 440) < 0.5 * abs(factor - 1) * 440, (factor, peak)


def test_dc_offset_is_the_drawn_share_of_the_crops_level():
    crop = (0.1 * np.sin(np.arange(8000) * 0.3)).astype(np.float32)
    level = np.sqrt(np.mean(crop.astype(np.float64) ** 2))
    for uniform, share in ((0.0, -0.3), (0.5, 0.0), (0.75, 0.15)):
        shifted = WaveAugment(dc_offset=0.3).add_dc_offset(crop, uniform)
        np.testing.assert_allclose(shifted - crop, share * level, atol=1e-6)
    np.testing.assert_array_equal(WaveAugment().add_dc_offset(crop, 1.0), crop)  # off: untouched
    assert WaveAugment(dc_offset=0.3).active and not WaveAugment().active  # the pipeline applies it alone too


def test_noise_fills_the_quiet_frames_at_the_drawn_ratio(tmp_path):
    short = _tone(str(tmp_path / "0.4.wav"), 0.4)  # a Hann-shaped tone: quiet at both ends
    plain = _crop_features(short, 0, -1, 0.0, FRONT_END)
    noisy = WaveAugment(noise_snr_db=10.0)
    at_10db = _crop_features(short, 0, -1, 0.0, FRONT_END, noisy, _draws(snr=0.0))
    at_40db = _crop_features(short, 0, -1, 0.0, FRONT_END, noisy, _draws(snr=1.0 - 1e-9))
    quiet = plain < np.percentile(plain, 10)
    assert (at_10db - plain)[quiet].mean() > (at_40db - plain)[quiet].mean() > 0.1  # the floor rises, more at 10 dB
    loud = plain > np.percentile(plain, 99)
    assert abs((at_40db - plain)[loud]).max() < 0.05  # the tone itself barely moves at 40 dB
    np.testing.assert_array_equal(_crop_features(short, 0, -1, 0.0, FRONT_END, noisy, _draws(snr=0.0)), at_10db)
    brown = _crop_features(short, 0, -1, 0.0, FRONT_END, noisy, _draws(snr=0.0, colour=1.0 - 1e-9))
    white = _crop_features(short, 0, -1, 0.0, FRONT_END, noisy, _draws(snr=0.0, colour=0.0))
    tilt = (brown - white)[quiet.any(axis=1)].mean(axis=0)
    assert tilt[:10].mean() > tilt[-40:].mean() + 1.0  # brown noise: low bands up, high bands down


def test_augmented_pipeline_is_a_function_of_seed_epoch_and_example(tmp_path):
    examples = [Example(_tone(str(tmp_path / f"{i}.wav"), 0.3 + 0.2 * i), i % 2) for i in range(4)]

    def epoch(first_epoch, wave_augment):
        data, _ = train_dataset(examples, FRONT_END, batch_size=4, seed=3, first_epoch=first_epoch,
                                epochs=first_epoch + 1, augment=None, wave_augment=wave_augment)
        return next(iter(data))[0].numpy()

    np.testing.assert_array_equal(epoch(1, AUGMENT), epoch(1, AUGMENT))
    assert not np.array_equal(epoch(1, AUGMENT), epoch(1, None))
    assert not np.array_equal(epoch(1, AUGMENT), epoch(2, AUGMENT))
    # Off in the release's recipe; small_data's default (docs/real_audio.md: an unseen speaker gains).
    assert recipe("release", finetuning=False).augmentation(512)["wave_augment"] is None
    assert recipe("small_data", finetuning=False).augmentation(512)["wave_augment"] == WaveAugment(
        gain_db=6.0, speed=0.2, equalizer_db=12.0)
