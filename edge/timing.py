"""Latency measurement with interleaved rounds, so that ratios hold on a noisy machine."""

from __future__ import annotations

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
