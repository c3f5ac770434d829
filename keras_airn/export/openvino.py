"""The deploy model to OpenVINO IR (`.xml` + `.bin`), checked on OpenVINO's CPU plugin
(`python -m convert.openvino`).

The IR is converted from the same TF function as the TFLite artifact (`openvino.convert_model`),
spectrogram or waveform input, batch 1: OpenVINO compiles it to the same graph, at the same speed,
as its reader of the project's .tflite (docs/benchmarks.md), without the intermediate file. Each
IR names the precision OpenVINO is to compute in (`inference.artifacts.OPENVINO_PRECISION_KEY`),
which `inference.artifacts.openvino_model` sets at compile: "fp32" and "int8" at f32 (OpenVINO's
default on a CPU with bf16 instructions is bf16), "bf16" at bf16, refused where the CPU has no
bf16 instructions. int8 is NNCF's post-training quantisation, calibrated on real clips and windows
of exact zeros like the TFLite and ONNX int8 and, like them, measured on such windows
(`silent_window_parity`); the head (global pool and classifier) and a waveform model's front-end
stay float, as in the TFLite int8. Beside the IR: `labels.json`, `front_end.json` and
`report_openvino.json` (the schema of `keras_airn.export.common`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

from keras_airn.export import common
from keras_airn.export.common import CALIBRATION_CLIPS, EVAL_CLIPS, ConversionError
from keras_airn.export.waveform import FRONT_END_SCOPE

OPENVINO_PRECISIONS = ("fp32", "int8", "bf16")
# What OpenVINO's CPU plugin computes each artifact's float ops in (INFERENCE_PRECISION_HINT).
INFERENCE_PRECISIONS = {"fp32": "f32", "int8": "f32", "bf16": "bf16"}
# The time-axis layout each precision runs fastest in on OpenVINO's CPU plugin (time_as_rows=None;
# docs/benchmarks.md, "OpenVINO on AVX-512 with VNNI and BF16").
OPENVINO_TIME_AS_ROWS = {"fp32": True, "int8": False, "bf16": False}
# How long a bf16 IR may take to compile in a child process before the export gives up on it:
# OpenVINO 2026.4's CPU plugin never returns from compiling some small networks at bf16 (same
# section of docs/benchmarks.md).
BF16_COMPILE_SECONDS = 120
_COMPILE = ("import sys, openvino; core = openvino.Core(); core.compile_model(core.read_model(sys.argv[1]), 'CPU', "
            "{'INFERENCE_PRECISION_HINT': sys.argv[2], 'INFERENCE_NUM_THREADS': 1})")
OPENVINO_BOUND = 1e-4
HEAD_SCOPE = "/head_"
# OpenVINO graph nodes that are not computation.
GRAPH_ENDS = ("Constant", "Parameter", "Result")


def bf16_refusal() -> str | None:
    """Why this CPU cannot run bf16 (one line), or None where OpenVINO's CPU plugin lists BF16."""
    from keras_airn.inference.artifacts import openvino_core
    from keras_airn.machine import cpu_class, cpu_isa

    capabilities = openvino_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    if "BF16" in capabilities:
        return None
    return (f"bf16: this CPU ({cpu_class()}: {', '.join(cpu_isa()) or 'no ISA flags read'}) has no bf16 "
            f"instructions (AVX512_BF16, AMX-BF16 or AVX-NE-CONVERT); OpenVINO lists {', '.join(capabilities)}. "
            f"Export fp32 or int8 here, or bf16 on such a CPU.")


def run_openvino(path: str, inputs: np.ndarray, threads: int = 1) -> np.ndarray:
    """Runs an OpenVINO IR on each example of `inputs` (batch 1 each); returns the logits."""
    from keras_airn.inference.artifacts import openvino_model

    request = openvino_model(path, threads).create_infer_request()
    return np.concatenate([request.infer([x[None].astype(np.float32)])[0] for x in inputs])


def float_node_names(ov_model, waveform: bool, float_head: bool) -> list[str]:
    """The OpenVINO ops int8 keeps float: a waveform model's front-end (`FRONT_END_SCOPE`: its DFT,
    sqrt and log do not survive integer quantisation) and the head (ops whose outputs name a Keras
    layer `head_*`, and every op fed by them; as `keras_airn.export.tflite.head_nodes`)."""
    head, names = set(), []
    for op in ov_model.get_ordered_ops():
        if op.get_type_name() in GRAPH_ENDS:
            continue
        name = op.get_friendly_name()
        tensors = [tensor for output in op.outputs() for tensor in output.get_names()]
        inputs = {value.get_node().get_friendly_name() for value in op.input_values()}
        if waveform and name.startswith(FRONT_END_SCOPE + "/"):
            names.append(name)
        elif float_head and (any(HEAD_SCOPE in tensor for tensor in tensors) or head & inputs):
            head.add(name)
            names.append(name)
    return names


def quantize(ov_model, calibration: np.ndarray, ignored: list[str]):
    """NNCF post-training int8 quantisation (its defaults for the CPU: per-channel symmetric
    weights, min-max activation ranges on `calibration`, one example each)."""
    import logging

    import nncf

    dataset = nncf.Dataset([x[None].astype(np.float32) for x in calibration])
    logger = logging.getLogger("nncf")  # its INFO lines list every node it leaves float
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        return nncf.quantize(ov_model, dataset, subset_size=len(calibration), target_device=nncf.TargetDevice.CPU,
                             ignored_scope=nncf.IgnoredScope(names=ignored) if ignored else None)
    finally:
        logger.setLevel(level)


def export_openvino(model, out_dir: str, *, precisions=("fp32",), waveform: bool = False,
                    keep_train_form: bool = False, front_end=None, examples=None, label_names=None,
                    sample_rate=None, num_eval: int = EVAL_CLIPS, source: str | None = None, calibration_examples=None,
                    random_calibration: bool = False, num_calibration: int = CALIBRATION_CLIPS,
                    int8_float_head: bool = True, time_as_rows: bool | None = None) -> dict:
    """Converts to OpenVINO IR, checks parity with Keras on OpenVINO's CPU plugin, writes the IRs
    and a report.

    Args:
        model: an `AudioRepInceptionNeXt`, a model file (.keras, .pyth), or a baseline.
        out_dir: output folder (the IRs, labels.json, front_end.json, report_openvino.json).
        precisions: any of "fp32", "int8", "bf16" (bf16 only where the CPU has bf16 instructions).
        waveform: (1, samples) float PCM input with the log-mel inside the model.
        keep_train_form: export a train form as it is.
        front_end: the model's `FrontEnd` (default VGG-Sound's).
        examples, num_eval: held-out clips for parity and agreement (None: noise), at most num_eval.
        label_names: class names.
        sample_rate: if given, must equal the front-end's rate.
        source: the model's file or folder, recorded in the report (default: `model` if a path).
        calibration_examples, random_calibration, num_calibration: int8 calibration, as in
            `keras_airn.export.tflite.export` (the same split, the same refusal of noise).
        int8_float_head: keep the head (global pool and classifier) float in the int8 IR.
        time_as_rows: time-axis convolutions as rows (identical outputs); None: each precision in
            the layout it runs fastest in (`OPENVINO_TIME_AS_ROWS`).

    Returns:
        The report (also `out_dir/report_openvino.json`, `keras_airn.export.common`'s schema); each
        artifact also gives its weights file, "time_as_rows", "inference_precision" and "ran_as".

    Raises:
        ConversionError: an unknown precision, bf16 on a CPU without it, int8 without data, or
            fp32 logits further than `OPENVINO_BOUND` from Keras.
    """
    import openvino

    source = source or (model if isinstance(model, str) else model.name)
    precisions = common.checked_precisions(precisions, OPENVINO_PRECISIONS)
    model, front_end = common.resolve_for_export(model, out_dir, precisions, OPENVINO_PRECISIONS, front_end,
                                                 sample_rate, keep_train_form, time_as_rows=False)
    rows = {p: OPENVINO_TIME_AS_ROWS[p] if time_as_rows is None else bool(time_as_rows) for p in precisions}
    if "bf16" in precisions and (refusal := bf16_refusal()):
        raise ConversionError(refusal)
    inputs = common.export_inputs(model, front_end, examples, calibration_examples, waveform=waveform,
                                  num_calibration=num_calibration, num_eval=num_eval, int8="int8" in precisions,
                                  random_calibration=random_calibration)
    converted = {layout: _convert(common.model_for_export(model, True, layout), front_end, waveform, source)
                 for layout in set(rows.values())}
    report = common.new_report("openvino", source, model, front_end, common.input_form(waveform),
                               len(inputs.evaluation), openvino=openvino.get_version().split("-")[0])
    with tempfile.TemporaryDirectory() as scratch:
        for precision in precisions:
            path = os.path.join(scratch, f"{common.artifact_stem(model)}_{report['input']}_{precision}.xml")
            entry = _write_ir(path, converted[rows[precision]], precision, inputs, waveform, int8_float_head)
            report["artifacts"][precision] = {**entry, "time_as_rows": rows[precision]}
        os.makedirs(out_dir, exist_ok=True)
        common.write_sidecars(out_dir, front_end, label_names, report["num_classes"])
        for name in [name for entry in report["artifacts"].values() for name in (entry["file"], entry["weights"])]:
            shutil.copyfile(os.path.join(scratch, name), os.path.join(out_dir, name))
    common.write_report(out_dir, report)
    return report


def _convert(model, front_end, waveform: bool, source: str):
    """The OpenVINO model of `classify_function` (the TFLite exporter's TF function), named after
    the Keras model.

    Raises:
        ConversionError: OpenVINO could not convert it.
    """
    import openvino

    from keras_airn.export.tflite import classify_function

    try:
        converted = openvino.convert_model(classify_function(model, front_end, waveform))
    except Exception as error:  # OpenVINO's front-ends raise many types
        raise ConversionError(f"OpenVINO could not convert {source!r}: {error}") from error
    converted.set_friendly_name(model.name)
    return converted


def _write_ir(path: str, converted, precision: str, inputs, waveform: bool, float_head: bool) -> dict:
    """Saves one precision's IR at `path` (int8: NNCF-quantised, `float_node_names` left float) and
    returns its report entry; fp32 must meet `OPENVINO_BOUND`, int8 is also measured on silent windows.

    Raises:
        ConversionError: fp32 logits further than `OPENVINO_BOUND` from Keras.
    """
    import openvino

    from keras_airn.inference.artifacts import OPENVINO_PRECISION_KEY

    name, ov_model, fields = os.path.basename(path), converted, {}
    if precision == "int8":
        ignored = float_node_names(converted, waveform, float_head)
        ov_model = quantize(converted.clone(), inputs.calibration, ignored)
        fields = {"float_head": bool(float_head), "float_ops": len(ignored)}
    ov_model.set_rt_info(INFERENCE_PRECISIONS[precision], OPENVINO_PRECISION_KEY)
    openvino.save_model(ov_model, path, compress_to_fp16=False)
    if precision == "bf16":
        _compiles_in_time(path, INFERENCE_PRECISIONS[precision])
    entry = {"file": name, **_check(path, ov_model, inputs), "inference_precision": INFERENCE_PRECISIONS[precision],
             **fields}
    if precision == "fp32":
        common.enforce_bound(name, entry, OPENVINO_BOUND)
    if precision == "int8":
        common.note_calibration(name, entry, inputs.calibration_clips)
        entry.update(common.silent_window_parity(lambda windows: run_openvino(path, windows), inputs))
        common.note_silent_windows(name, entry)
    return entry


def _compiles_in_time(path: str, precision: str) -> None:
    """Compiles the IR at `precision` in a child process first, so that a compile that never
    returns stops the export with one line instead of hanging it.

    Raises:
        ConversionError: the compile ran past `BF16_COMPILE_SECONDS`.
    """
    try:
        subprocess.run([sys.executable, "-c", _COMPILE, path, precision], capture_output=True,
                       timeout=BF16_COMPILE_SECONDS)
    except subprocess.TimeoutExpired:
        raise ConversionError(f"{os.path.basename(path)}: OpenVINO did not finish compiling it at {precision} in "
                              f"{BF16_COMPILE_SECONDS} s (its CPU plugin hangs on some graphs at {precision}); "
                              f"export fp32 or int8.") from None


def _check(path: str, ov_model, inputs) -> dict:
    """A report entry: the IR's files, size and ops, the precision OpenVINO ran it at, and its
    parity with Keras."""
    from keras_airn.inference.artifacts import openvino_model, openvino_precision

    weights = os.path.splitext(path)[0] + ".bin"
    ops: dict[str, int] = {}
    for op in ov_model.get_ordered_ops():
        if op.get_type_name() not in GRAPH_ENDS:
            ops[op.get_type_name()] = ops.get(op.get_type_name(), 0) + 1
    return {"weights": os.path.basename(weights), "bytes": os.path.getsize(path) + os.path.getsize(weights),
            "ops": dict(sorted(ops.items())), "ran_as": openvino_precision(openvino_model(path)),
            **common.parity(run_openvino(path, inputs.evaluation), inputs.reference, inputs.labels)}
