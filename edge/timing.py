"""Latency measurement with interleaved rounds, so that ratios hold on a noisy machine."""

from __future__ import annotations

import os
import platform
import time
from typing import Callable, Mapping

import numpy as np
from tqdm.auto import tqdm


def time_interleaved(
    runners: Mapping[str, Callable[[], object]], rounds: int = 20, warmup: int = 3
) -> dict[str, np.ndarray]:
    """Times several zero-argument callables, one call of each per round.

    Interleaving spreads machine noise evenly over the candidates, so per-round ratios are
    fair even when absolute times drift.

    Args:
        runners: {name: callable}; each call is one inference.
        rounds: timed rounds.
        warmup: untimed rounds first.

    Returns:
        {name: array of `rounds` latencies in seconds}.
    """
    for _ in range(warmup):
        for run in runners.values():
            run()
    latencies = {name: np.empty(rounds) for name in runners}
    for index in tqdm(range(rounds), desc="timing", unit="round", leave=False):
        for name, run in runners.items():
            start = time.perf_counter()
            run()
            latencies[name][index] = time.perf_counter() - start
    return latencies


def median_ratio(numerator: np.ndarray, denominator: np.ndarray) -> float:
    """Median of per-round ratios numerator / denominator."""
    return float(np.median(np.asarray(numerator) / np.asarray(denominator)))


def machine_description() -> str:
    """One line naming the CPU model, cores and Python/TensorFlow versions."""
    import tensorflow as tf

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(l.split(":", 1)[1].strip() for l in handle if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, TensorFlow {tf.__version__}"
