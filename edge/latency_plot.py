"""The benchmark's plots: per-artifact latency bars, and latency against compute across networks.

Both take the rows `edge.artifact_timing.benchmark` returns (artifact, median_ms, min_ms, p90_ms,
macs, ...). Each artifact's network, runtime and precision are read from its file name (the
exporters' naming: `<network>_<form>_<input>_<precision>.<tflite|onnx|xml>`, `<name>.keras`).

Example:
>>> artifact_kind("export/airn_b1_deploy_spectrogram_int8.tflite")
('airn_b1', 'LiteRT int8')
"""

from __future__ import annotations

import os
import re

RUNTIMES = {".tflite": "LiteRT", ".onnx": "ORT", ".xml": "OpenVINO", ".keras": "Keras"}
PRECISIONS = ("int8", "fp16", "bf16", "dynamic", "fp32")
# The exporters' form and input words, which end the network's part of a name.
_NETWORK_END = re.compile(r"_(deploy|train|release|spectrogram|waveform|int8|fp16|bf16|fp32|dynamic)(_|\.|$)")
MARKERS = {"LiteRT fp32": "o", "LiteRT int8": "s", "LiteRT fp16": "^", "LiteRT dynamic": "v",
           "ORT fp32": "D", "ORT int8": "P", "OpenVINO fp32": "h", "OpenVINO int8": "p", "OpenVINO bf16": "d",
           "Keras fp32": "X"}


def artifact_kind(path: str) -> tuple[str, str]:
    """(network, "runtime precision") of an artifact, from its file name."""
    name = os.path.basename(path)
    stem, extension = os.path.splitext(name)
    runtime = RUNTIMES.get(extension.lower(), extension.lstrip(".") or "?")
    precision = next((p for p in PRECISIONS if re.search(rf"(^|_){p}(_|$)", stem)), "fp32")
    found = _NETWORK_END.search(stem)
    return (stem[: found.start()] if found else stem), f"{runtime} {precision}"


def _latency(row: dict) -> float | None:
    return row.get("median_ms") or row.get("mean_ms")


def _plain_log_ticks(axis, which: str) -> None:
    """Log-axis ticks written as plain numbers (0.3, 1, 30), not 3x10^-1."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    target = axis.xaxis if which == "x" else axis.yaxis
    target.set_major_locator(LogLocator(base=10, subs=(1.0, 3.0)))
    target.set_minor_formatter(FuncFormatter(lambda value, _: ""))
    target.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))


def latency_bars(rows: list[dict], path: str, title: str) -> None:
    """A horizontal bar per artifact: median latency, whiskers from the fastest round to the 90th
    percentile of the same run's rounds. A linear axis, so bar lengths compare; an artifact over
    five times the median of all is drawn to the edge with its figure written on it.

    Args:
        rows: benchmark rows (artifact, median_ms or mean_ms, min_ms, p90_ms; `label`, if
            present, names the bar instead of `artifact`).
        path: the PNG to write.
        title: the plot's title (name the machine).
    """
    import statistics

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    timed = [row for row in rows if _latency(row) is not None]
    medians = [_latency(row) for row in timed]
    typical = statistics.median(medians) if medians else 1.0
    regular = [row.get("p90_ms") or _latency(row) for row in timed if _latency(row) <= 5 * typical]
    limit = 1.15 * max(regular or medians or [1.0])
    figure, axis = pyplot.subplots(figsize=(9, 1.2 + 0.38 * len(timed)))
    kinds = [artifact_kind(row["artifact"])[1] for row in timed]
    colours = {kind: f"C{i}" for i, kind in enumerate(dict.fromkeys(kinds))}
    for position, (row, median, kind) in enumerate(zip(timed, medians, kinds)):
        y = len(timed) - 1 - position
        if median > limit:  # an outlier: to the edge, its value written
            axis.barh(y, limit, color=colours[kind], hatch="//", edgecolor="white")
            axis.text(0.98 * limit, y, f"{median:,.0f} ms", va="center", ha="right", fontsize=8, color="white",
                      fontweight="bold", bbox={"facecolor": "black", "alpha": 0.7, "pad": 2, "edgecolor": "none"})
            continue
        low, high = median - (row.get("min_ms") or median), (row.get("p90_ms") or median) - median
        axis.barh(y, median, color=colours[kind], xerr=[[max(0.0, low)], [max(0.0, high)]], capsize=3,
                  error_kw={"elinewidth": 1})
    axis.set_yticks(range(len(timed))[::-1], [row.get("label") or row["artifact"] for row in timed], fontsize=8)
    axis.set_xlim(0, limit)
    axis.set_xlabel("median latency, batch 1, ms (whiskers: fastest round to 90th percentile of the run)")
    handles = [matplotlib.patches.Patch(color=colour, label=kind) for kind, colour in colours.items()]
    axis.legend(handles=handles, fontsize=8, title="runtime, precision", title_fontsize=8, loc="upper left",
                bbox_to_anchor=(1.01, 1.0))
    axis.set_title(title, fontsize=10)
    axis.grid(axis="x", alpha=0.3)
    figure.savefig(path, dpi=120, bbox_inches="tight")  # the legend sits outside the axes
    pyplot.close(figure)


def latency_against_compute(rows: list[dict], path: str, title: str) -> bool:
    """Latency against MACs: one colour per network, one marker per runtime and precision.

    Args:
        rows: benchmark rows with `macs`.
        path: the PNG to write.
        title: the plot's title (name the machine).

    Returns:
        False (and nothing written) when fewer than two networks have MACs.
    """
    points = [(artifact_kind(row["artifact"]), row["macs"] / 1e9, _latency(row)) for row in rows
              if row.get("macs") and _latency(row) is not None]
    networks = list(dict.fromkeys(kind[0] for kind, _, _ in points))
    if len(networks) < 2:
        return False
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot
    from matplotlib.lines import Line2D

    colours = {network: pyplot.get_cmap("tab10" if len(networks) <= 10 else "tab20")(i)
               for i, network in enumerate(networks)}
    figure, axis = pyplot.subplots(figsize=(10, 5.5))
    figure.subplots_adjust(left=0.08, right=0.76, bottom=0.1, top=0.93)  # room for the legends
    for (network, kind), macs, latency in points:
        axis.scatter(macs, latency, color=colours[network], marker=MARKERS.get(kind, "*"), s=42,
                     edgecolors="black", linewidths=0.4)
    axis.set_xscale("log")
    axis.set_yscale("log")
    for which in ("x", "y"):
        _plain_log_ticks(axis, which)
    axis.set_xlabel("GMACs per example")
    axis.set_ylabel("latency, batch 1, median ms")
    axis.set_title(title, fontsize=10)
    axis.grid(alpha=0.3, which="major")
    by_network = [Line2D([], [], color=colours[n], marker="o", linestyle="", label=n) for n in networks]
    kinds = list(dict.fromkeys(kind for (_, kind), _, _ in points))
    by_kind = [Line2D([], [], color="grey", marker=MARKERS.get(k, "*"), linestyle="", label=k) for k in kinds]
    first = axis.legend(handles=by_network, title="network", fontsize=8, title_fontsize=8,
                        loc="upper left", bbox_to_anchor=(1.01, 1.0))
    axis.add_artist(first)
    axis.legend(handles=by_kind, title="runtime, precision", fontsize=8, title_fontsize=8,
                loc="lower left", bbox_to_anchor=(1.01, 0.0))
    figure.savefig(path, dpi=120)
    pyplot.close(figure)
    return True
