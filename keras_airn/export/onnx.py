"""The deploy model to ONNX with tf2onnx, checked with onnxruntime (`python -m convert.onnx`).

The input is `log_mel` (batch, T, n_mels, 1) with a dynamic batch axis; T is fixed by the
front-end (`front_end.json` beside the model, else VGG-Sound's 512). int8 is onnxruntime's static
quantisation (QDQ, per-channel int8 weights) calibrated on real clips and windows of exact zeros
like the TFLite int8, and like it measured on such windows (`silent_window_parity`);
`ONNX_INT8_SCHEMES` names the activation type and weight range (docs/benchmarks.md says which is
faster and more exact on which CPU class).
"""

from __future__ import annotations

import os
import pathlib
import tempfile

import numpy as np

from keras_airn import files
from keras_airn.export.common import (
    CALIBRATION_CLIPS,
    EVAL_CLIPS,
    ConversionError,
    ExportInputs,
    artifact_stem,
    check_out_dir,
    checked_precisions,
    enforce_bound,
    export_inputs,
    held_out_inputs,
    model_for_export,
    new_report,
    note_calibration,
    note_silent_windows,
    parity,
    silent_window_parity,
    write_report,
    write_sidecars,
)

ONNX_BOUND = 1e-4
ONNX_PRECISIONS = ("fp32", "int8")
# name -> (activation type, reduce_range). u8s8: uint8 activations x int8 weights, what
# onnxruntime's x86 kernels run natively (VPMADDUBSW on AVX2, VNNI where present);
# "u8s8_reduced" keeps weights in 7 bits so AVX2's 16-bit pair sums cannot saturate; s8s8: int8
# activations too. The default is the one exact on every x86 class (docs/conversion.md measures
# the agreement of each).
ONNX_INT8_SCHEMES = {"u8s8": ("QUInt8", False), "u8s8_reduced": ("QUInt8", True), "s8s8": ("QInt8", False)}
DEFAULT_ONNX_INT8_SCHEME = "u8s8_reduced"


def run_onnx(path: str, inputs: np.ndarray, threads: int = 1) -> np.ndarray:
    """Runs an ONNX model with onnxruntime (CPU) on a batch."""
    from keras_airn.inference.artifacts import onnx_session

    session = onnx_session(path, threads)
    return session.run(None, {session.get_inputs()[0].name: inputs.astype(np.float32)})[0]


def head_node_names(model_path: str) -> list[str]:
    """Nodes of the classifier head: those tf2onnx names after Keras layers `head_*`, and every
    node fed by them (as `keras_airn.export.tflite.head_nodes` for TFLite)."""
    import onnx

    head_outputs, names = set(), []
    for node in onnx.load(model_path).graph.node:
        if "/head_" in node.name or head_outputs.intersection(node.input):
            head_outputs.update(node.output)
            names.append(node.name)
    return names


def quantize_onnx(fp32_path: str, out_path: str, calibration: np.ndarray, scheme: str = DEFAULT_ONNX_INT8_SCHEME,
                  float_head: bool = True):
    """Static int8 quantisation of an ONNX model with onnxruntime: QDQ, per-channel int8 weights.

    Args:
        fp32_path: the float model.
        out_path: where the int8 model goes.
        calibration: (N, T, F, 1) calibration inputs (min-max ranges).
        scheme: a key of `ONNX_INT8_SCHEMES`.
        float_head: leave the classifier head (`head_node_names`) float, as the TFLite int8 does.
    """
    from onnxruntime import quantization as q
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if scheme not in ONNX_INT8_SCHEMES:
        raise ConversionError(f"Unknown ONNX int8 scheme {scheme!r}; choose from {sorted(ONNX_INT8_SCHEMES)}.")
    activation, reduce_range = ONNX_INT8_SCHEMES[scheme]

    class Reader(q.CalibrationDataReader):
        def __init__(self):
            self.items = iter([{"log_mel": x[None].astype(np.float32)} for x in calibration])

        def get_next(self):
            return next(self.items, None)

    with tempfile.TemporaryDirectory() as scratch:
        prepared = os.path.join(scratch, "prepared.onnx")
        quant_pre_process(fp32_path, prepared, skip_symbolic_shape=True)
        q.quantize_static(prepared, out_path, Reader(), quant_format=q.QuantFormat.QDQ, per_channel=True,
                          activation_type=getattr(q.QuantType, activation), weight_type=q.QuantType.QInt8,
                          reduce_range=reduce_range, calibrate_method=q.CalibrationMethod.MinMax,
                          nodes_to_exclude=head_node_names(prepared) if float_head else [])


def export_onnx(model, out_dir: str, *, opset: int = 17, keep_train_form: bool = False,
                front_end=None, examples=None, label_names=None, num_eval: int = EVAL_CLIPS,
                source: str | None = None, precisions=("fp32",), calibration_examples=None,
                random_calibration: bool = False, num_calibration: int = CALIBRATION_CLIPS,
                int8_scheme: str = DEFAULT_ONNX_INT8_SCHEME) -> dict:
    """Converts to ONNX, checks parity with Keras in onnxruntime, writes the files and a report.

    Args:
        model: an `AudioRepInceptionNeXt`, a model file (.keras, .pyth), or a baseline.
        out_dir: output folder (the artifacts, labels.json, front_end.json, report_onnx.json).
        opset: ONNX opset.
        keep_train_form: export a train form as it is.
        front_end: the model's `FrontEnd` (default VGG-Sound's).
        examples: held-out clips for parity and agreement (None: noise).
        label_names: class names.
        num_eval: at most this many clips.
        source: the model's file or folder, recorded in the report (default: `model` if a path).
        precisions: "fp32" and/or "int8" (the fp32 model is always converted, checked and written).
        calibration_examples, random_calibration, num_calibration: int8 calibration, as in
            `keras_airn.export.tflite.export` (the same split, the same refusal of noise).
        int8_scheme: a key of `ONNX_INT8_SCHEMES`.

    Returns:
        The report (also `out_dir/report_onnx.json`), the schema of `keras_airn.export.common`:
        "artifacts" holds "fp32" and, if asked, "int8" (with its agreement on silent windows).
    """
    from keras_airn.data.features import FrontEnd

    precisions = checked_precisions(precisions, ONNX_PRECISIONS)
    front_end = front_end or FrontEnd()
    check_out_dir(out_dir)
    source = source or (model if isinstance(model, str) else model.name)
    model = model_for_export(model, keep_train_form)
    inputs = _export_inputs(model, front_end, examples, num_eval, "int8" in precisions,
                            calibration_examples=calibration_examples, num_calibration=num_calibration,
                            random_calibration=random_calibration)
    proto = _to_onnx(model, front_end, opset, source)
    report = new_report("onnx", source, model, front_end, "spectrogram", len(inputs.evaluation), opset=opset)
    stem = artifact_stem(model)
    written = {}
    with tempfile.TemporaryDirectory() as scratch:
        fp32_path = os.path.join(scratch, "fp32.onnx")
        written["fp32"] = _write_proto(proto, fp32_path)
        report["artifacts"]["fp32"] = entry = _check(f"{stem}_spectrogram.onnx", fp32_path, proto, inputs)
        enforce_bound(entry["file"], entry, ONNX_BOUND)
        if "int8" in precisions:
            written["int8"], report["artifacts"]["int8"] = _int8(f"{stem}_spectrogram_int8.onnx", fp32_path, inputs,
                                                                 int8_scheme)
    os.makedirs(out_dir, exist_ok=True)
    write_sidecars(out_dir, front_end, label_names, report["num_classes"])
    for precision, data in written.items():
        files.write_bytes(os.path.join(out_dir, report["artifacts"][precision]["file"]), data)
    write_report(out_dir, report)
    return report


def _export_inputs(model, front_end, examples, num_eval: int, int8: bool, **calibration) -> ExportInputs:
    """`export_inputs` of the log-mel model where int8 is asked for (the split and silent windows
    of the other exporters); for fp32 alone, every clip of `examples` is evaluated."""
    if int8:
        return export_inputs(model, front_end, examples, waveform=False, num_eval=num_eval, int8=True, **calibration)
    features, _, labels = held_out_inputs(examples, front_end, False, num_eval)
    return ExportInputs(features, model.predict(features, verbose=0), labels, features[:0], 0, {})


def _int8(name: str, fp32_path: str, inputs: ExportInputs, scheme: str) -> tuple[bytes, dict]:
    """(the int8 model's bytes, its report entry): `quantize_onnx` of the fp32 model on the
    calibration inputs, checked as the fp32 one and on the evaluation clips' silent windows."""
    import onnx

    int8_path = os.path.join(os.path.dirname(fp32_path), "int8.onnx")
    quantize_onnx(fp32_path, int8_path, inputs.calibration, scheme)
    data = pathlib.Path(int8_path).read_bytes()
    entry = {**_check(name, int8_path, onnx.load_from_string(data), inputs), "scheme": scheme, "float_head": True}
    note_calibration(name, entry, inputs.calibration_clips)
    entry.update(silent_window_parity(lambda windows: run_onnx(int8_path, windows), inputs))
    note_silent_windows(name, entry)
    return data, entry


def _to_onnx(model, front_end, opset: int, source: str):
    """The model as a checked ONNX proto, input `log_mel` (batch, T, n_mels, 1)."""
    import onnx
    import tensorflow as tf
    import tf2onnx

    signature = [tf.TensorSpec([None, front_end.num_frames, front_end.n_mels, 1], tf.float32, name="log_mel")]
    function = tf.function(lambda x: model(x, training=False), input_signature=signature)
    try:
        proto, _ = tf2onnx.convert.from_function(function, input_signature=signature, opset=opset)
    except Exception as error:  # tf2onnx raises many types
        raise ConversionError(f"tf2onnx could not convert {source!r} at opset {opset}: {error}") from error
    onnx.checker.check_model(proto)
    return proto


def _write_proto(proto, path: str) -> bytes:
    data = proto.SerializeToString()
    with open(path, "wb") as handle:
        handle.write(data)
    return data


def _check(name: str, path: str, proto, inputs: ExportInputs) -> dict:
    """A report entry: the artifact's size and ops, and its parity with Keras in onnxruntime."""
    return {"file": name, "bytes": os.path.getsize(path), "ops": _op_counts(proto),
            **parity(run_onnx(path, inputs.evaluation), inputs.reference, inputs.labels)}


def _op_counts(proto) -> dict[str, int]:
    ops: dict[str, int] = {}
    for node in proto.graph.node:
        ops[node.op_type] = ops.get(node.op_type, 0) + 1
    return dict(sorted(ops.items()))
