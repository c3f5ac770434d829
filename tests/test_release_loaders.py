"""Per-dataset front-ends against the release's loaders (recorded: tests/data/README.md)."""

import os

import numpy as np
import pytest
import soundfile
import tensorflow as tf

from keras_airn.data.audio import read_audio, read_audio_segment
from keras_airn.export.waveform import END_MARKER, builtin_log_mel, fill_after_signal, split_end_marker
from keras_airn.data.features import FRONT_ENDS, FrontEnd, host_clip_features

RECORDED = np.load(os.path.join(os.path.dirname(__file__), "data", "release_loaders.npz"))
US8K_SMALL = FrontEnd(clip_seconds=0.5, short_clip_padding="edge_sample")  # the recording's settings


def test_urbansound8k_pads_a_short_recording_with_its_last_sample_as_the_release():
    audio, expected = RECORDED["us8k_short_audio"], RECORDED["us8k_short_features"]
    np.testing.assert_allclose(host_clip_features(audio, 0, US8K_SMALL), expected, atol=1e-5)
    # Repeating the last frame instead (the other loaders' way) gives other numbers.
    other = host_clip_features(audio, 0, FrontEnd(clip_seconds=0.5))
    assert other.shape[0] < expected.shape[0]
    assert FRONT_ENDS["urbansound8k"].short_clip_padding == "edge_sample"
    assert FRONT_ENDS["vggsound"].short_clip_padding == "last_frame"
    # The waveform-input model's graph fills the samples after the signal the same way.
    samples = US8K_SMALL.clip_size - 1
    padded = np.pad(audio, (0, samples - len(audio)), constant_values=END_MARKER)[None].astype(np.float32)
    clean, length = split_end_marker(tf.constant(padded))
    graph = builtin_log_mel(fill_after_signal(clean, length), samples, US8K_SMALL).numpy()[0, ..., 0]
    # Compared as mel power: the DFT-matrix float32 front-end is within 2e-3 in log where there is
    # signal, and the padded tail's near-floor bands (log(1e-6) = -13.8) differ in log, not power.
    np.testing.assert_allclose(np.exp(graph), np.exp(expected), rtol=2e-3, atol=1e-5)
    assert np.abs(graph - expected)[expected > -10].max() < 2e-3


@pytest.mark.parametrize("rate", [8000, 24000, 44100])
def test_kaiser_best_resamples_as_the_releases_librosa(rate, tmp_path):
    path = str(tmp_path / f"{rate}.wav")
    soundfile.write(path, RECORDED[f"resample_in_{rate}"], rate, subtype="FLOAT")
    expected = RECORDED[f"resample_out_{rate}"]
    ours = read_audio(path, 16000, resampler="kaiser_best")
    np.testing.assert_allclose(ours, expected, atol=1e-6)
    segment = read_audio_segment(path, 16000, 2000, 3000, resampler="kaiser_best")
    np.testing.assert_allclose(segment, expected[2000:5000], atol=1e-5)
    assert np.abs(read_audio(path, 16000) - expected).max() > 1e-4  # soxr_hq (own audio's default) differs
    assert all(FRONT_ENDS[name].resampler == "kaiser_best" for name in FRONT_ENDS)
    assert FrontEnd().resampler == "soxr_hq"
