"""Prints both front-end forms' difference from librosa, the figures docs/training.md quotes.

Usage: .venv/bin/python scripts/frontend_parity.py
Uses the same librosa reference and audio (espeak-ng speech, white noise) as tests/test_features.py.
"""

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from keras_airn.data.features import FrontEnd, host_log_mel, log_mel_spectrogram  # noqa: E402
from tests.audio_fixtures import espeak_speech, white_noise  # noqa: E402
from tests.test_features import librosa_log_mel  # noqa: E402

with tempfile.TemporaryDirectory() as directory:
    sources = {"speech (espeak-ng)": espeak_speech(directory), "white noise": white_noise()}
print("| audio | window / hop ms | form | max abs diff | mean abs diff |\n|---|---|---|---:|---:|")
for name, waveform in sources.items():
    for window_ms, hop_ms in ((20, 10), (10, 5), (5, 2)):
        reference = librosa_log_mel(waveform, window_ms, hop_ms)
        forms = {"TensorFlow ops": log_mel_spectrogram(waveform, 16000, window_ms, hop_ms).numpy(),
                 "host (SciPy)": host_log_mel(waveform, FrontEnd(window_ms=window_ms, hop_ms=hop_ms))}
        for form, features in forms.items():
            difference = np.abs(features - reference)
            print(f"| {name} | {window_ms} / {hop_ms} | {form} | {difference.max():.2g} | {difference.mean():.2g} |")
