"""Parser of the TFLite `benchmark_model` tool's output.

The tool (tensorflow/lite/tools/benchmark, documented in its README) logs, among other lines:

    Explicitly applied GPU delegate, and the model graph will be completely executed by the delegate.
    Explicitly applied NNAPI delegate, and the model graph will be partially executed by the delegate w/ 3 delegate kernels.
    Though NNAPI delegate is explicitly applied, the model graph will not be executed by the delegate.
    Failed to apply GPU delegate.
    count=50 first=53012 curr=52811 min=52113 max=60021 avg=53500.2 std=1203 [p5=.. median=.. p95=..]
    Inference timings in us: Init: 81234, First inference: 61000, Warmup (avg): 58000.5, Inference (avg): 53500.2
    Memory footprint delta from the start of the tool (MB): init=4.2 overall=46.1
      (older builds: "Peak memory footprint (MB): init=.. overall=..")
    Overall peak memory footprint (MB) via periodic monitoring: 48.3

Lines may carry a log prefix ("INFO: ", "I tflite  : "); numbers may be in exponent form
("2.95034e+06"). A log without the "Inference timings" line is a failed run; `parse` says why.
"""

from __future__ import annotations

import dataclasses
import re

_NUMBER = r"([0-9.]+(?:e[+-]?[0-9]+)?)"
_TIMINGS = re.compile(
    rf"Inference timings in us: Init: {_NUMBER}, First inference: {_NUMBER}, "
    rf"Warmup \(avg\): {_NUMBER}, Inference \(avg\): {_NUMBER}"
)
_STAT = re.compile(r"count=(\d+) first=\S+ curr=\S+ min=(\S+) max=(\S+) avg=(\S+) std=(\S+)(.*)")
_PERCENTILES = re.compile(rf"p5={_NUMBER} median={_NUMBER} p95={_NUMBER}")
_MEMORY = re.compile(rf"(?:Memory footprint delta from the start of the tool|Peak memory footprint) "
                     rf"\(MB\): init={_NUMBER} overall={_NUMBER}")
_PEAK = re.compile(rf"Overall peak memory footprint \(MB\) via periodic monitoring: {_NUMBER}")
_FULL = re.compile(r"Explicitly applied (\S+) delegate, and the model graph will be completely executed")
_PARTIAL = re.compile(r"Explicitly applied (\S+) delegate, and the model graph will be partially executed "
                      r"by the delegate w/ (\d+) delegate kernels")
_NONE = re.compile(r"Though (\S+) delegate is explicitly applied, the model graph will not be executed")
_FAILED = re.compile(r"Failed to apply (\S+) delegate")
_UNSUPPORTED = re.compile(r"(\S+) acceleration is unsupported on this platform")
_ERROR = re.compile(r"^(?:E[ /]\S*\s*:\s*|ERROR: )(.*)$")


class BenchmarkLogError(ValueError):
    """A `benchmark_model` log that holds no timings, with the reason the log gives."""


@dataclasses.dataclass
class DelegateOutcome:
    """What a requested delegate did: `full`, `partial`, `none`, `failed` or `unsupported`."""

    name: str
    status: str
    kernels: int | None = None

    def __str__(self) -> str:
        if self.status == "partial":
            return f"{self.name}: partial ({self.kernels} kernels)"
        return f"{self.name}: {self.status}"


@dataclasses.dataclass
class BenchmarkLog:
    """Timings (microseconds) and memory (MB) of one `benchmark_model` run."""

    init_us: float
    first_us: float
    warmup_avg_us: float
    avg_us: float
    count: int | None = None
    min_us: float | None = None
    max_us: float | None = None
    std_us: float | None = None
    median_us: float | None = None
    p95_us: float | None = None
    memory_init_mb: float | None = None
    memory_overall_mb: float | None = None
    peak_memory_mb: float | None = None
    delegates: list[DelegateOutcome] = dataclasses.field(default_factory=list)

    @property
    def fell_back(self) -> bool:
        """True when a requested delegate ran none or only part of the graph."""
        return any(d.status != "full" for d in self.delegates)


def _delegates(lines: list[str]) -> list[DelegateOutcome]:
    outcomes = []
    for line in lines:
        if match := _FULL.search(line):
            outcomes.append(DelegateOutcome(match.group(1), "full"))
        elif match := _PARTIAL.search(line):
            outcomes.append(DelegateOutcome(match.group(1), "partial", int(match.group(2))))
        elif match := _NONE.search(line):
            outcomes.append(DelegateOutcome(match.group(1), "none"))
        elif match := _FAILED.search(line):
            outcomes.append(DelegateOutcome(match.group(1), "failed"))
        elif match := _UNSUPPORTED.search(line):
            outcomes.append(DelegateOutcome(match.group(1), "unsupported"))
    return outcomes


def parse(text: str) -> BenchmarkLog:
    """Parses one run's output.

    Args:
        text: stdout and stderr of `benchmark_model`.

    Returns:
        The timings, memory and delegate outcomes.

    Raises:
        BenchmarkLogError: the run produced no timings (a delegate failed to apply, the model
            did not load, the log is cut off); the message quotes the tool's own reason.
    """
    lines = [line.strip() for line in text.replace("\r", "").splitlines()]
    delegates = _delegates(lines)
    timings = next((m for m in map(_TIMINGS.search, lines) if m), None)
    if timings is None:
        errors = [m.group(1) for m in map(_ERROR.match, lines) if m]
        failed = [str(d) for d in delegates if d.status in ("failed", "unsupported")]
        reason = "; ".join(failed + errors) or "no 'Inference timings in us' line (run cut off?)"
        raise BenchmarkLogError(f"benchmark_model gave no timings: {reason}")
    init, first, warmup, avg = (float(v) for v in timings.groups())
    log = BenchmarkLog(init, first, warmup, avg, delegates=delegates)
    # The last statistics line before the summary is the timed runs (the first is warm-up).
    stats = [m for m in map(_STAT.search, lines) if m]
    if stats:
        count, low, high, mean, std, rest = stats[-1].groups()
        log.count, log.min_us, log.max_us, log.std_us = int(count), float(low), float(high), float(std)
        if percentiles := _PERCENTILES.search(rest):
            log.median_us, log.p95_us = float(percentiles.group(2)), float(percentiles.group(3))
    if memory := next((m for m in map(_MEMORY.search, lines) if m), None):
        log.memory_init_mb, log.memory_overall_mb = float(memory.group(1)), float(memory.group(2))
    if peak := next((m for m in map(_PEAK.search, lines) if m), None):
        log.peak_memory_mb = float(peak.group(1))
    return log
