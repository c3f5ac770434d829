"""What live classification costs: milliseconds per hop and the share of one core at real time.

A `StreamScorer` is fed noise in chunks of one hop, as `edge.listen` feeds it; each push that
scores a window is timed (the network, and the front-end where it runs on the host). The share
of a core is the hop's median time over the hop's length: at 1.0 a core only just keeps up.

Example:
>>> share_of_core(median_ms=40.0, hop_seconds=0.5)
0.08
"""

from __future__ import annotations

import time

import numpy as np


def share_of_core(median_ms: float, hop_seconds: float) -> float:
    """Busy time of one core per second of audio: `median_ms` every `hop_seconds`."""
    return round(median_ms / (1000.0 * hop_seconds), 6)


def stream_timing(path: str, hops: list[float], windows: int = 20, warmup: int = 3) -> list[dict]:
    """Times `windows` hops of each size on one artifact (its front_end.json beside it).

    Args:
        path: a .tflite (either input form) or .keras model.
        hops: hop lengths in seconds.
        windows: timed hops per size (after the first window, which fills the buffer).
        warmup: untimed hops first.

    Returns:
        One row per hop: artifact, hop_seconds, median_ms, p90_ms, share_of_core, input.
    """
    from keras_airn.inference.runtime import WindowScorer
    from keras_airn.inference.streaming import StreamScorer

    classifier = WindowScorer.from_file(path)
    front_end = classifier.front_end
    rng = np.random.default_rng(0)
    rows = []
    for hop_seconds in hops:
        scorer = StreamScorer(classifier, hop_seconds)
        scorer.push(rng.uniform(-0.3, 0.3, front_end.clip_size - 1).astype(np.float32))  # the first window
        times = []
        for index in range(warmup + windows):
            chunk = rng.uniform(-0.3, 0.3, scorer.hop).astype(np.float32)
            start = time.perf_counter()
            scored = scorer.push(chunk)
            elapsed = (time.perf_counter() - start) * 1000.0
            assert len(scored) == 1, len(scored)
            if index >= warmup:
                times.append(elapsed)
        median = round(float(np.median(times)), 3)  # the share of a core is of the median shown
        rows.append({"artifact": path, "input": "waveform" if classifier.waveform_input else "spectrogram",
                     "hop_seconds": hop_seconds, "median_ms": median,
                     "p90_ms": round(float(np.percentile(times, 90)), 3),
                     "share_of_core": share_of_core(median, hop_seconds)})
    return rows
