"""Compares keras_airn's two resamplers on 10 s of a tone in noise, 44.1 kHz -> 16 kHz: time
(median of 5) and the largest difference (docs/reference.md, section 1).

Usage: .venv/bin/python scripts/compare_resamplers.py
"""
import time

import numpy as np

from keras_airn.data.audio import resample
rng = np.random.default_rng(0)
t = np.arange(441000) / 44100
x = (0.5 * np.sin(2 * np.pi * 440 * t) + 0.1 * rng.standard_normal(len(t))).astype(np.float32)
resample(x[:4410], 44100, 16000, "kaiser_best")  # numba compile
out, times = {}, {}
for name in ("soxr_hq", "kaiser_best"):
    runs = []
    for _ in range(5):
        start = time.perf_counter(); out[name] = resample(x, 44100, 16000, name); runs.append(time.perf_counter() - start)
    times[name] = float(np.median(runs))
print({k: round(v * 1000, 1) for k, v in times.items()}, "ms; ratio", round(times["kaiser_best"] / times["soxr_hq"], 1),
      "; max abs diff", float(np.abs(out["soxr_hq"] - out["kaiser_best"]).max()))
