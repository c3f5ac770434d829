"""Real test audio: speech from espeak-ng (installed by the Makefile) and noise."""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest
import soundfile
from scipy import signal


def espeak_speech(tmp_dir, text="The quick brown fox jumps over the lazy dog.", rate=16000):
    """Speech synthesised by espeak-ng, resampled to `rate`, float32 in [-1, 1].

    Skips the test where espeak-ng is missing, except in CI, where it must be there.
    """
    if shutil.which("espeak-ng") is None:
        if os.environ.get("CI"):
            pytest.fail("espeak-ng is not installed; `make test` installs it (scripts/install_system_deps.sh).")
        pytest.skip("espeak-ng not installed")
    path = os.path.join(str(tmp_dir), "speech.wav")
    subprocess.run(["espeak-ng", "-w", path, text], check=True, capture_output=True)
    audio, source_rate = soundfile.read(path, dtype="float64")
    return signal.resample_poly(audio, rate, source_rate).astype(np.float32)


def white_noise(seconds=3.0, rate=16000, seed=0):
    return np.random.default_rng(seed).uniform(-0.5, 0.5, int(seconds * rate)).astype(np.float32)
