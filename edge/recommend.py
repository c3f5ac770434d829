"""Which artifact to ship on this machine: the fastest whose decisions match its float model's.

Among the timed artifacts (LiteRT fp32/int8, ONNX fp32/int8, OpenVINO fp32/int8/bf16, ...), candidates are those whose
top-1 agreement with the float model of the same source is at least `threshold` (98 %): measured
on the user's clips when given, else the agreement the conversion report recorded on its held-out
clips (the split not used for calibration). The fastest candidate by median latency wins.
"""

from __future__ import annotations

import os

import numpy as np

DEFAULT_THRESHOLD = 0.98


def artifact_logits(path: str, inputs: np.ndarray) -> np.ndarray:
    """Logits of a spectrogram-input .tflite, .onnx or OpenVINO .xml artifact on (N, T, F, 1) inputs."""
    from keras_airn.inference.artifacts import artifact_kind

    kind = artifact_kind(path, ("tflite", "onnx", "openvino"))
    if kind == "tflite":
        from keras_airn.export.tflite import run_tflite

        return run_tflite(path, inputs)
    if kind == "openvino":
        from keras_airn.export.openvino import run_openvino

        return run_openvino(path, inputs)
    from keras_airn.export.onnx import run_onnx

    return run_onnx(path, inputs)


def measured_agreement(paths: list[str], examples, max_clips: int = 200) -> dict[str, float]:
    """Top-1 agreement of each artifact with the fp32 artifact of the same source model, on `examples`.

    The front-end is the `front_end.json` beside each artifact; artifacts without a float sibling
    in `paths` (same conversion source, "fp32" or no precision in the name) get no entry.
    """
    from edge.artifact_timing import source_model
    from keras_airn.export.common import held_out_inputs
    from keras_airn.data.features import FRONT_END_FILE, FrontEnd

    by_source: dict[str, list[str]] = {}
    for path in paths:
        if path.endswith((".tflite", ".onnx", ".xml")):
            by_source.setdefault(source_model(path) or path, []).append(path)
    agreement = {}
    for group in by_source.values():
        floats = [p for p in group if is_float(p)]
        if not floats:
            continue
        front_end = FrontEnd.load(os.path.join(os.path.dirname(os.path.abspath(floats[0])), FRONT_END_FILE))
        inputs = held_out_inputs(examples, front_end, False, max_clips)[0]
        reference = artifact_logits(floats[0], inputs).argmax(1)
        for path in group:
            agreement[path] = float(np.mean(artifact_logits(path, inputs).argmax(1) == reference))
    return agreement


def reported_agreement(path: str) -> float | None:
    """The top-1 agreement (against Keras) the artifact's conversion report recorded, if any."""
    from keras_airn.export.common import report_entry

    entry = report_entry(path)[1]
    return entry.get("top1_agreement") if entry else None


def is_float(path: str) -> bool:
    """fp32 by its name: "_fp32." or an ONNX/TFLite file with no precision suffix."""
    stem = os.path.splitext(os.path.basename(path))[0]
    return stem.endswith("_fp32") or stem.rsplit("_", 1)[-1] not in ("int8", "fp16", "dynamic", "bf16")


def recommend(rows: list[dict], paths: list[str], agreement: dict[str, float | None],
              threshold: float = DEFAULT_THRESHOLD) -> dict:
    """The fastest artifact with agreement >= threshold, and why.

    Args:
        rows: `edge.artifact_timing.benchmark` rows, in the order of `paths`.
        paths: the artifacts' paths.
        agreement: {path: top-1 agreement or None (unknown)}.
        threshold: the least agreement a candidate needs.

    Returns:
        {"artifact", "median_ms", "agreement", "speedup_vs_slowest_float", "reason", "candidates"}.
    """
    candidates = []
    for row, path in zip(rows, paths):
        value = agreement.get(path)
        eligible = value is not None and value >= threshold
        candidates.append({"artifact": row["artifact"], "median_ms": row["median_ms"], "agreement": value,
                           "eligible": eligible})
    eligible = [c for c in candidates if c["eligible"]]
    if not eligible:
        return {"artifact": None, "reason": f"no artifact reaches {threshold:.0%} top-1 agreement with a "
                                            f"known value", "candidates": candidates}
    best = min(eligible, key=lambda c: c["median_ms"])
    below = [c["artifact"] for c in candidates if c["agreement"] is not None and not c["eligible"]]
    unknown = [c["artifact"] for c in candidates if c["agreement"] is None]
    reason = (f"fastest of {len(eligible)} artifact(s) with top-1 agreement >= {threshold:.0%}; below it: "
              f"{', '.join(below) or 'none'}; agreement unknown: {', '.join(unknown) or 'none'}")
    return {"artifact": best["artifact"], "median_ms": best["median_ms"], "agreement": best["agreement"],
            "reason": reason, "candidates": candidates}
