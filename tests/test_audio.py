"""`keras_airn.data.audio`: any format, rate and channel count read as `librosa.load(sr=16000)` reads it."""

import librosa
import numpy as np
import pytest
import soundfile
import tensorflow as tf

from keras_airn.data.audio import AudioError, decode_audio, read_audio, read_audio_segment, stream_audio
from keras_airn.data.features import FrontEnd, clip_features
from train.demo_data import synth_clip

# (file name, rate, channels, soundfile subtype): the formats users record in.
CASES = [
    ("stereo_44k.wav", 44100, 2, "PCM_16"),
    ("mono_48k_24bit.wav", 48000, 1, "PCM_24"),
    ("mono_22k.flac", 22050, 1, "PCM_16"),
    ("mono_8k.ogg", 8000, 1, "VORBIS"),
]


def _recording(rate, channels, seconds=1.3, seed=0):
    rng = np.random.default_rng(seed)
    parts = [0.4 * synth_clip(name, seconds, rate, rng) for name in ("chirp_up", "tone_high")[:channels]]
    return np.stack(parts, axis=1) if channels > 1 else parts[0]


@pytest.mark.parametrize("name, rate, channels, subtype", CASES)
def test_resampling_matches_librosa_load(tmp_path, name, rate, channels, subtype):
    path = str(tmp_path / name)
    soundfile.write(path, _recording(rate, channels), rate, subtype=subtype)
    reference, _ = librosa.load(path, sr=16000, mono=True)
    ours = read_audio(path, 16000)
    assert ours.dtype == np.float32 and ours.shape == reference.shape
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-5)
    # The tf.data path and the block-wise reader (for long files) read the same samples.
    np.testing.assert_array_equal(decode_audio(tf.constant(path), 16000).numpy(), ours)
    announced, blocks = stream_audio(path, 16000, block_seconds=0.1)
    streamed = np.concatenate(list(blocks))
    assert announced == len(ours)
    np.testing.assert_array_equal(streamed, ours)


@pytest.mark.parametrize("rate, channels", [(16000, 1), (44100, 2), (22050, 1), (48000, 1)])
def test_a_segment_is_the_whole_files_samples(tmp_path, rate, channels):
    """Training decodes only its crop; the crop must be the samples the whole file gives."""
    path = str(tmp_path / f"long_{rate}.wav")
    soundfile.write(path, _recording(rate, channels, seconds=3.0), rate, subtype="PCM_16")
    whole = read_audio(path, 16000)
    for first, count in ((0, 8000), (5, 20000), (12345, 16000), (len(whole) - 9000, 9000), (len(whole) - 100, 500)):
        segment = read_audio_segment(path, 16000, first, count)
        expected = whole[first : first + count]
        assert segment.shape == expected.shape
        if rate == 16000:
            np.testing.assert_array_equal(segment, expected)
        else:
            np.testing.assert_allclose(segment, expected, rtol=0, atol=1e-6)


def test_files_at_the_front_end_rate_give_the_features_of_the_previous_wav_decoder(tmp_path):
    """16-bit WAV at 16 kHz: soundfile's samples equal tf.audio.decode_wav's, bit for bit."""
    path = str(tmp_path / "clip.wav")
    soundfile.write(path, _recording(16000, 2, seconds=1.5), 16000, subtype="PCM_16")
    decoded, _ = tf.audio.decode_wav(tf.io.read_file(path))
    previous = tf.reduce_mean(decoded, axis=1)
    ours = decode_audio(tf.constant(path), 16000)
    np.testing.assert_array_equal(ours.numpy(), previous.numpy())
    front_end = FrontEnd(clip_seconds=1.28)
    np.testing.assert_array_equal(clip_features(ours, 100, front_end).numpy(),
                                  clip_features(previous, 100, front_end).numpy())


def test_strict_mode_and_bad_samples_are_named(tmp_path):
    path = str(tmp_path / "fast.wav")
    soundfile.write(path, np.zeros(8000, np.float32), 8000)
    with pytest.raises(AudioError, match="fast.wav: sample rate 8000 Hz, expected 16000 Hz"):
        read_audio(path, 16000, resample_audio=False)
    assert read_audio(path, 16000).shape == (16000,)
    nan = str(tmp_path / "nan.wav")
    soundfile.write(nan, np.array([0.1, np.nan, 0.2] * 100, np.float32), 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="nan.wav: audio contains NaN"):
        read_audio(nan, 16000)
    pipeline = tf.data.Dataset.from_tensors(nan).map(lambda p: decode_audio(p, 16000))
    with pytest.raises(tf.errors.OpError, match="nan.wav: audio contains NaN"):
        list(pipeline)
