"""Prints the front-end's difference from librosa, the figures the README quotes.

Usage: .venv/bin/python scripts/frontend_parity.py
Uses the same librosa reference and audio (espeak-ng speech, white noise) as tests/test_features.py.
"""

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from keras_airn.features import log_mel_spectrogram  # noqa: E402
from tests.audio_fixtures import espeak_speech, white_noise  # noqa: E402
from tests.test_features import librosa_log_mel  # noqa: E402

with tempfile.TemporaryDirectory() as directory:
    sources = {"speech (espeak-ng)": espeak_speech(directory), "white noise": white_noise()}
print("| audio | window / hop ms | max abs diff | mean abs diff |\n|---|---|---:|---:|")
for name, waveform in sources.items():
    for window_ms, hop_ms in ((20, 10), (10, 5), (5, 2)):
        difference = np.abs(log_mel_spectrogram(waveform, 16000, window_ms, hop_ms).numpy()
                            - librosa_log_mel(waveform, window_ms, hop_ms))
        print(f"| {name} | {window_ms} / {hop_ms} | {difference.max():.2g} | {difference.mean():.2g} |")
