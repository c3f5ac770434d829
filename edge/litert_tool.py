"""Cross-check of `edge.benchmark`'s .tflite timings with LiteRT's own benchmark tool.

The `ai-edge-litert` wheel ships `ai_edge_litert/tools/benchmark_litert_model.py`, a Python mirror
of the C++ `benchmark_litert_model` on the CompiledModel API. It runs one model alone (not
interleaved) and writes its statistics to JSON; `cross_check` runs it per .tflite artifact with the
same threads and runs, and puts its median beside ours.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

TOOL_MODULE = "ai_edge_litert.tools.benchmark_litert_model"


def litert_tool_median_ms(path: str, threads: int, runs: int, warmup: int) -> float | None:
    """The tool's median latency (ms) of one .tflite, or None where the tool fails (message logged)."""
    with tempfile.TemporaryDirectory() as scratch:
        result = os.path.join(scratch, "result.json")
        completed = subprocess.run(
            [sys.executable, "-m", TOOL_MODULE, "--model", path, "--num_threads", str(threads),
             "--num_runs", str(runs), "--warmup_runs", str(warmup), "--result_json", result],
            capture_output=True, text=True)
        if completed.returncode or not os.path.isfile(result):
            print(f"benchmark_litert_model failed on {path}: {completed.stderr.strip()[-300:]}")
            return None
        with open(result) as handle:
            data = json.load(handle)
    return float(data["latency"]["median_ms"])


def cross_check(rows: list[dict], paths: list[str], threads: int, runs: int, warmup: int) -> None:
    """Adds `litert_tool_median_ms` and `litert_tool_vs_this` to the rows of .tflite artifacts."""
    for row, path in zip(rows, paths):
        if not path.endswith(".tflite"):
            continue
        median = litert_tool_median_ms(path, threads, runs, warmup)
        row["litert_tool_median_ms"] = median
        if median is not None:
            row["litert_tool_vs_this"] = median / row["median_ms"]
