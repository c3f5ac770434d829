"""AudioRepInceptionNeXt to TensorFlow Lite, with a parity report (`python -m convert.tflite`).

Train forms are re-parameterised first (`--keep_train_form` exports them as they are). Every
artifact uses TFLite builtin ops only. int8 is calibrated on real clips through the project's
pipeline; random input only with `random_calibration=True`. Each artifact is run by
ai-edge-litert (and tflite-runtime 2.14 where its environment exists) and compared with the
Keras model. Beside the artifacts: `labels.json`, `front_end.json` and `report.json` (the schema
of `keras_airn.export.common`).
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
from absl import logging

from keras_airn import files
from keras_airn.export.common import (
    CALIBRATION_CLIPS,
    EVAL_CLIPS,
    INT8_NEEDS_DATA,
    ConversionError,
    artifact_stem,
    checked_precisions,
    enforce_bound,
    export_inputs,
    input_form,
    new_report,
    note_calibration,
    note_silent_windows,
    parity,
    resolve_for_export,
    silent_window_parity,
    write_report,
    write_sidecars,
)
from keras_airn.inference.artifacts import tflite_interpreter

PRECISIONS = ("fp32", "fp16", "dynamic", "int8")
# The classifier head of every model here is its layers named head_* (global average pool and
# linear layer); int8 keeps it float by default (docs/conversion.md: 8-bit logits cost agreement).
HEAD_SCOPE = "/head_"
FP32_BOUND, FP16_BOUND = 1e-4, 1e-2


def spectrogram_function(model, front_end):
    """A concrete function from (1, T, n_mels, 1) log-mel to logits."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([1, front_end.num_frames, front_end.n_mels, 1], tf.float32,
                                                name="log_mel")])
    def classify(log_mel):
        return model(log_mel, training=False)

    return classify


def classify_function(model, front_end, waveform: bool):
    """The concrete function an exporter converts: (1, samples) PCM with the front-end inside
    (`keras_airn.export.waveform.waveform_function`) or (1, T, n_mels, 1) log-mel, to logits."""
    from keras_airn.export.waveform import waveform_function

    return waveform_function(model, front_end)[0] if waveform else spectrogram_function(model, front_end)


def convert(function, precision: str, representative=None, int8_io: bool = False,
            float_nodes: list[str] | None = None) -> bytes:
    """Converts a concrete function to a .tflite flatbuffer with builtin ops only.

    Args:
        function: a `tf.function` with an input signature.
        precision: "fp32", "fp16", "dynamic" or "int8".
        representative: for "int8", a list of input arrays (one example each).
        int8_io: for "int8", int8 input and output tensors instead of float.
        float_nodes: for "int8", TFLite tensor names whose ops stay in float (the waveform
            front-end: its DFT, sqrt and log do not survive integer quantisation; the head).

    Returns:
        The model bytes.
    """
    import tensorflow as tf

    if precision not in PRECISIONS:
        raise ConversionError(f"Unknown precision {precision!r}; choose from {PRECISIONS}.")
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    # Keras 3 variables are resource variables that TF 2.21's converter keeps as READ_VARIABLE
    # ops (which int8 calibration and old runtimes cannot run); freeze them into constants first.
    frozen = convert_variables_to_constants_v2(function.get_concrete_function())
    converter = _configure(tf.lite.TFLiteConverter.from_concrete_functions([frozen]), precision,
                           representative, int8_io)
    if precision != "int8" or not float_nodes:
        return converter.convert()
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter,
        debug_dataset=lambda: ([x] for x in representative),
        debug_options=tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=float_nodes),
    )
    return debugger.get_nondebug_quantized_model()


def _ops_with_outputs(model_bytes: bytes):
    """(op details, output tensor names) of each op of a .tflite model, in execution order."""
    interpreter = tflite_interpreter(model_bytes)
    names = {t["index"]: t["name"] for t in interpreter.get_tensor_details()}
    for op in interpreter._get_ops_details():  # noqa: SLF001
        yield op, [names[i] for i in op["outputs"]]


def leading_nodes_outside(model_bytes: bytes, scope: str) -> list[str]:
    """Output tensor names of the ops that run before the first op of the Keras model `scope`
    (for the waveform model: its front-end)."""
    nodes = []
    for _, outputs in _ops_with_outputs(model_bytes):
        if any(scope in name for name in outputs):
            break
        nodes.extend(outputs)
    return nodes


def head_nodes(model_bytes: bytes) -> list[str]:
    """Output tensor names of the classifier head's ops: those of Keras layers named `head_*`
    (TFLite names their tensors `<model>/head_.../...`) and every op fed by them (the logits
    tensor is named after the model's output, not its layer)."""
    head, nodes = set(), []
    for op, outputs in _ops_with_outputs(model_bytes):
        if any(HEAD_SCOPE in name for name in outputs) or head.intersection(op["inputs"]):
            head.update(op["outputs"])
            nodes.extend(outputs)
    return nodes


def _configure(converter, precision, representative, int8_io):
    import tensorflow as tf

    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]  # never Flex ops
    if precision == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif precision == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif precision == "int8":
        if not representative:
            raise ConversionError(INT8_NEEDS_DATA)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([x] for x in representative)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if int8_io:
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
    return converter


def run_tflite(model_path: str, inputs: np.ndarray, num_threads: int = 1) -> np.ndarray:
    """Runs a .tflite model with ai-edge-litert on each example of `inputs`; returns float logits."""
    from keras_airn.inference.tflite_invoke import invoke_all

    return invoke_all(tflite_interpreter(model_path, num_threads), inputs)


def op_counts(model_path: str) -> dict[str, int]:
    """Counts the operators of a .tflite model by name, over all its subgraphs (signatures and
    control flow); a custom op (Flex ones included) by its custom code."""
    from tensorflow.lite.python import schema_py_generated as schema

    with open(model_path, "rb") as handle:
        model = schema.Model.GetRootAsModel(handle.read(), 0)
    builtin = {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
    counts: dict[str, int] = {}
    for graph in (model.Subgraphs(i) for i in range(model.SubgraphsLength())):
        for op in (graph.Operators(i) for i in range(graph.OperatorsLength())):
            code = model.OperatorCodes(op.OpcodeIndex())
            number = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            name = builtin[number] if number != schema.BuiltinOperator.CUSTOM else code.CustomCode().decode()
            counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items()))


def with_metadata(data: bytes, front_end, label_names, model, precision: str) -> tuple[bytes, str]:
    """Attaches audio-classifier metadata (sample rate, labels) to a waveform model when it can."""
    if not label_names:
        return data, "not attached: no labels (give labels, e.g. a run's labels.json)"
    num_classes = model.output_shape[-1]
    if len(label_names) != num_classes:
        raise ConversionError(f"{len(label_names)} labels for a model with {num_classes} classes.")
    try:
        from keras_airn.export.metadata import attach_audio_classifier_metadata
    except ImportError:
        return data, "not attached: needs the `mediapipe` package (dev extra) for the metadata schema"
    data = attach_audio_classifier_metadata(
        data, sample_rate=front_end.sample_rate, labels=label_names, name=f"{model.name} ({precision})",
        description=f"{model.name}, {front_end.clip_seconds} s of "
                    f"{front_end.sample_rate} Hz mono PCM in, class logits out.")
    return data, "attached (audio properties, labels.txt)"


def check_old_runtime(model_path: str, inputs: np.ndarray, litert_logits: np.ndarray,
                      columns: int | None = None) -> dict:
    """Runs an artifact on tflite-runtime 2.14 and compares its first `columns` logits (default
    all) with LiteRT's output."""
    from keras_airn.export.old_runtime import old_runtime_python, run_on_tflite_runtime_214

    if old_runtime_python() is None:
        return {"checked": False, "note": "no tflite-runtime 2.14 environment (make venv-tflite214)"}
    logits, error = run_on_tflite_runtime_214(model_path, inputs)
    if error is not None:
        return {"checked": True, "runs": False, "error": error}
    logits = logits[:, :columns]
    difference = float(np.abs(logits - litert_logits).max() / max(np.abs(litert_logits).max(), 1e-12))
    return {"checked": True, "runs": True, "max_rel_diff_to_litert": difference}


def export(model, out_dir: str, precisions, *, waveform=False, keep_train_form=False,
           int8_io=False, front_end=None, examples=None, label_names=None, sample_rate=None,
           random_calibration=False, num_calibration=CALIBRATION_CLIPS, num_eval=EVAL_CLIPS,
           calibration_examples=None,
           time_as_rows=True, source: str | None = None, int8_float_head: bool = True) -> dict:
    """Converts, runs and checks every requested artifact; writes them with labels and a report.

    Args:
        model: an `AudioRepInceptionNeXt`, a model file (.keras, .pyth), or a baseline of
            `keras_airn.network.baselines` (any Keras model from log-mel (1, T, F, 1) to logits).
        out_dir: output folder.
        precisions: any of "fp32", "fp16", "dynamic", "int8".
        waveform: (1, samples) float PCM input with the log-mel inside the model.
        keep_train_form: export a train form as it is (default: re-parameterise first).
        int8_io: for int8, int8 input and output tensors.
        front_end: the model's `FrontEnd` (default VGG-Sound's).
        label_names: class names, written beside the artifacts and into waveform metadata.
        sample_rate: if given, must equal the front-end's rate.
        random_calibration: allow int8 calibration on noise when no clips are given.
        examples: held-out clips for parity and top-1 agreement (None: noise, no labels).
        calibration_examples: clips that calibrate int8 (the training split, typically); without
            them int8 calibrates on the first half of `examples` and is measured on the rest.
        num_calibration, num_eval: at most this many clips of each (one crop per clip).
        time_as_rows: time-axis convolutions as rows on the transposed layout (identical
            outputs, faster under XNNPACK: docs/benchmarks.md).
        source: the model's file or folder, recorded in the report (default: `model` if a path).
        int8_float_head: keep the head (global pool and classifier) float in int8 models: logits
            quantised to 256 levels flip close decisions (docs/conversion.md). Off with
            `int8_io`, whose logits are int8.

    Returns:
        The report (also written to `out_dir/report.json`).
    """
    source = source or (model if isinstance(model, str) else model.name)
    precisions = checked_precisions(precisions, PRECISIONS)
    model, front_end = resolve_for_export(model, out_dir, precisions, PRECISIONS, front_end, sample_rate,
                                          keep_train_form, time_as_rows)
    inputs = export_inputs(model, front_end, examples, calibration_examples, waveform=waveform,
                           num_calibration=num_calibration, num_eval=num_eval, int8="int8" in precisions,
                           random_calibration=random_calibration)
    os.makedirs(out_dir, exist_ok=True)
    function = classify_function(model, front_end, waveform)
    form = input_form(waveform)
    report = new_report("tflite", source, model, front_end, form, len(inputs.evaluation), time_as_rows=time_as_rows)
    write_sidecars(out_dir, front_end, label_names, report["num_classes"])
    int8_float_head = int8_float_head and not int8_io  # int8 logits out: the head stays integer
    converter = _Converter(function, model, waveform, int8_io, int8_float_head, [x[None] for x in inputs.calibration],
                           "int8" in precisions)
    for precision in precisions:
        data, fields = converter.convert(precision)
        if waveform:
            data, fields["metadata"] = with_metadata(data, front_end, label_names, model, precision)
        name = f"{artifact_stem(model)}_{form}_{precision}.tflite"
        report["artifacts"][precision] = _entry(name, data, precision, inputs, fields)
        files.write_bytes(os.path.join(out_dir, name), data)
    write_report(out_dir, report)
    return report


def _entry(name: str, data: bytes, precision: str, inputs, fields: dict) -> dict:
    """An artifact's report entry: `_check` on the evaluation inputs, the conversion's `fields`
    and, for int8, its calibration and agreement on silent windows (`silent_window_parity`)."""
    if precision == "int8":
        note_calibration(name, fields, inputs.calibration_clips)
    entry = {"file": name, "bytes": len(data),
             **_check(name, data, precision, inputs.evaluation, inputs.reference, inputs.labels), **fields}
    if precision == "int8":
        entry.update(silent_window_parity(lambda windows: _run_bytes(name, data, windows), inputs))
        note_silent_windows(name, entry)
    return entry


class _Converter:
    """Converts one concrete function at each precision; for int8, the nodes kept float (a
    waveform model's front-end, the head) are found once, on the fp32 conversion."""

    def __init__(self, function, model, waveform: bool, int8_io: bool, float_head: bool, representative,
                 has_int8: bool):
        self.function, self.waveform, self.int8_io = function, waveform, int8_io
        self.float_head, self.representative = float_head, representative
        self.converted, self.float_nodes = {}, []
        if has_int8 and (waveform or float_head):
            self.converted["fp32"] = convert(function, "fp32")
            if waveform:
                # The front-end stays float inside the int8 model: quantising its DFT, sqrt and
                # log destroys the features (docs/conversion.md).
                self.float_nodes += leading_nodes_outside(self.converted["fp32"], model.name)
            if float_head:
                self.float_nodes += head_nodes(self.converted["fp32"])

    def convert(self, precision: str) -> tuple[bytes, dict]:
        """(the `.tflite` bytes, report fields of the conversion)."""
        if precision in self.converted:
            return self.converted[precision], {}
        try:
            data = convert(self.function, precision, representative=self.representative, int8_io=self.int8_io,
                           float_nodes=self.float_nodes)
        except ValueError as error:
            # TFLite's quantisation debugger, which keeps nodes float, rejects some graphs
            # (BC-ResNet's frequency-broadcast adds); the head then goes integer with the rest,
            # and the report says so.
            if precision != "int8" or self.waveform or "debug mode" not in str(error):
                raise
            note = f"head left integer: the quantisation debugger refused ({error})"
            logging.warning("%s", note)
            data = convert(self.function, precision, representative=self.representative, int8_io=self.int8_io)
            return data, {"float_head": False, "float_head_note": note}
        return data, ({"float_head": bool(self.float_head)} if precision == "int8" else {})


def _check(name: str, data: bytes, precision: str, inputs, reference, labels) -> dict:
    """`run_checks`, and for fp32/fp16 the bound the logits must meet to be written.

    Raises:
        ConversionError: non-builtin ops, or logits outside the bound.
    """
    entry = run_checks(name, data, inputs, reference, labels)
    bound = {"fp32": FP32_BOUND, "fp16": FP16_BOUND}.get(precision)
    if bound is not None:
        enforce_bound(name, entry, bound)
    return entry


def _run_bytes(name: str, data: bytes, inputs) -> np.ndarray:
    """`run_tflite` on an artifact's bytes."""
    with tempfile.TemporaryDirectory() as scratch:
        path = os.path.join(scratch, name)
        with open(path, "wb") as handle:
            handle.write(data)
        return run_tflite(path, inputs)


def run_checks(name: str, data: bytes, inputs, reference, labels, columns: int | None = None) -> dict:
    """Runs an artifact on LiteRT (and tflite-runtime 2.14 where present): its ops and parity with
    Keras on the first `columns` logits (default all).

    Raises:
        ConversionError: non-builtin ops.
    """
    with tempfile.TemporaryDirectory() as scratch:
        candidate = os.path.join(scratch, name)
        with open(candidate, "wb") as handle:
            handle.write(data)
        logits = run_tflite(candidate, inputs)[:, :columns]
        ops = op_counts(candidate)
        old_runtime = check_old_runtime(candidate, inputs, logits, columns)
    if any(op.startswith("Flex") or op == "CUSTOM" for op in ops):
        raise ConversionError(f"{name} needs non-builtin ops {sorted(ops)}; not written.")
    return {"ops": ops, **parity(logits, reference, labels), "tflite_runtime_2_14": old_runtime}
