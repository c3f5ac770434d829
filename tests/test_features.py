"""Front-end parity with librosa, crops, frame padding, SpecAugment bounds."""

import librosa
import numpy as np
import pytest
import tensorflow as tf

from keras_airn.data.features import (
    FRONT_ENDS,
    FrontEnd,
    LogMelSpectrogram,
    clip_features,
    crop_starts,
    host_log_mel,
    log_mel_spectrogram,
    random_crop_start,
)
from tests.audio_fixtures import espeak_speech, white_noise
from keras_airn.training.spec_augment import SpecAugmentConfig, spec_augment


def librosa_log_mel(waveform, window_ms, hop_ms, rate=16000):
    """The release's front-end, written with librosa as the release does."""
    spectrum = librosa.stft(
        waveform, n_fft=2048, hop_length=round(hop_ms * rate / 1000),
        win_length=round(window_ms * rate / 1000), window="hann", pad_mode="constant",
    )
    basis = librosa.filters.mel(sr=rate, n_fft=2048, n_mels=128, htk=True, norm=None)
    return np.log(basis @ np.abs(spectrum) + 1e-6).T


@pytest.mark.parametrize("window_ms,hop_ms", [(20, 10), (5, 2), (10, 5)])
@pytest.mark.parametrize("source", ["speech", "noise"])
def test_log_mel_matches_librosa(tmp_path, source, window_ms, hop_ms):
    waveform = espeak_speech(tmp_path) if source == "speech" else white_noise()
    expected = librosa_log_mel(waveform, window_ms, hop_ms)
    in_graph = log_mel_spectrogram(waveform, 16000, window_ms, hop_ms).numpy()
    on_host = host_log_mel(waveform, FrontEnd(window_ms=window_ms, hop_ms=hop_ms))
    for got in (in_graph, on_host):
        assert got.shape == expected.shape == (1 + len(waveform) // round(hop_ms * 16), 128)
        difference = np.abs(got - expected)
        assert difference.max() <= 2e-3 and difference.mean() <= 1e-4, (difference.max(), difference.mean())


def test_batched_and_layer_forms_agree():
    batch = np.stack([white_noise(1.0, seed=s) for s in range(3)])
    single = np.stack([log_mel_spectrogram(w).numpy() for w in batch])
    np.testing.assert_allclose(log_mel_spectrogram(batch).numpy(), single, atol=1e-5)
    layer = LogMelSpectrogram()
    out = layer(batch)
    assert tuple(out.shape) == (3, 101, 128, 1) and layer.compute_output_shape((3, 16000)) == (3, 101, 128, 1)
    np.testing.assert_allclose(out.numpy()[..., 0], single, atol=1e-5)
    assert LogMelSpectrogram.from_config(layer.get_config()).get_config() == layer.get_config()
    with pytest.raises(ValueError, match="waveform must be"):
        log_mel_spectrogram(np.zeros((1, 2, 100), np.float32))


@pytest.mark.parametrize("dataset,frames", [("vggsound", 512), ("epic_sounds", 416), ("speechcommands", 512),
                                            ("urbansound8k", 416), ("nsynth", 416)])
def test_crop_gives_exact_frame_counts(dataset, frames):
    front_end = FRONT_ENDS[dataset]
    assert front_end.num_frames == frames
    long_audio = white_noise(front_end.clip_seconds * 2.3)
    assert random_crop_start(len(long_audio), front_end, 0.0) == 0
    start = random_crop_start(len(long_audio), front_end, 0.999)
    assert start == int(0.999 * (len(long_audio) - front_end.clip_size)) <= len(long_audio) - front_end.clip_size
    assert random_crop_start(front_end.clip_size - 5, front_end, 0.7) == 0  # short clips start at 0
    assert clip_features(long_audio, start, front_end).shape == (frames, 128)


def test_crop_rules_follow_the_release():
    front_end = FRONT_ENDS["vggsound"]
    starts = crop_starts(100_000, front_end, 3).numpy()
    np.testing.assert_array_equal(starts, np.floor(np.linspace(0, 100_000 - 81_904, 3)).astype(int))
    audio = white_noise(7.0)
    features = clip_features(audio, tf.constant(1234), front_end).numpy()
    expected = log_mel_spectrogram(audio[1234 : 1234 + 81_903]).numpy()
    np.testing.assert_allclose(features, expected, atol=1e-5)
    # A short clip is transformed whole and its last frame repeated.
    short = white_noise(2.0)
    padded = clip_features(short, tf.constant(0), front_end).numpy()
    whole = log_mel_spectrogram(short).numpy()
    assert padded.shape == (512, 128)
    np.testing.assert_allclose(padded[: len(whole)], whole, atol=1e-6)
    np.testing.assert_array_equal(padded[len(whole):], np.repeat(padded[len(whole) - 1:len(whole)], 512 - len(whole), axis=0))


def test_clean_spec_augment_masks_stay_within_bounds():
    config = SpecAugmentConfig(style="clean")
    features = tf.constant(np.random.default_rng(0).normal(size=(512, 128)).astype(np.float32) + 10.0)
    for seed in range(20):
        augmented = spec_augment(features, tf.constant([seed, 7]), config).numpy()
        assert augmented.shape == (512, 128)
        warped = spec_augment(features, tf.constant([seed, 7]),
                              SpecAugmentConfig(freq_masks=0, time_masks=0, style="clean")).numpy()
        masked = augmented != warped
        masked_bins = np.where(masked.all(axis=0))[0]
        masked_frames = np.where(masked.all(axis=1))[0]
        # Fully masked columns come from <= 2 masks of < 27 bins; rows from <= 2 of < 25 frames.
        assert len(masked_bins) <= 2 * 26 and len(masked_frames) <= 2 * 24
        if masked.any():
            assert np.allclose(augmented[masked], warped.mean(), atol=1e-4)
        np.testing.assert_array_equal(augmented, spec_augment(features, tf.constant([seed, 7]), config).numpy())
    # The warp moves frames by at most W and keeps the ends fixed.
    warped = spec_augment(features, tf.constant([1, 1]), SpecAugmentConfig(freq_masks=0, time_masks=0, style="clean")).numpy()
    np.testing.assert_allclose(warped[0], features.numpy()[0], atol=1e-5)
    np.testing.assert_allclose(warped[-1], features.numpy()[-1], atol=1e-5)
