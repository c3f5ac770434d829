"""Model files: the one place that picks a loader by file extension and opens a LiteRT
interpreter, an onnxruntime session or an OpenVINO compiled model, each failure naming the file.

Example:
>>> artifact_kind("export/airn_b0_deploy_waveform_int8.tflite")
'tflite'
"""

from __future__ import annotations

import io
import json
import os
import zipfile

import numpy as np

from keras_airn.errors import ClassifyError

KINDS = {".keras": "keras", ".tflite": "tflite", ".onnx": "onnx", ".xml": "openvino"}
# Where an OpenVINO IR written by `keras_airn.export.openvino` keeps the precision its CPU plugin
# is to compute in (the IR's runtime_options); `openvino_model` sets it at compile. An IR without
# it is compiled at f32: OpenVINO's own default on a CPU with bf16 instructions is bf16.
OPENVINO_PRECISION_KEY = ["runtime_options", "INFERENCE_PRECISION_HINT"]
OPENVINO_DEFAULT_PRECISION = "f32"


# What a runtime puts after the end of a recording shorter than a waveform model's input: a value
# real audio never holds (the readers refuse NaN), so exact digital zeros inside a recording stay
# audio. The model's front-end reads it (`keras_airn.export.waveform.split_end_marker`).
END_MARKER = float("nan")
# The settings file a trainable `.tflite` carries (`keras_airn.export.trainable`).
TRAINABLE_FILE = "keras_airn_trainable.json"
# What a trainable model's `infer` gives a head slot not in use.
MASKED_LOGIT = -1e9
# Its replay set: embeddings of a few shipped examples per class, float32 little-endian.
REPLAY_FILE = "keras_airn_replay.f32"


def pad_to_input(window: np.ndarray, num_samples: int) -> np.ndarray:
    """`window` (samples,) padded to a waveform model's `num_samples` with `END_MARKER`."""
    return np.pad(window, (0, num_samples - window.shape[0]), constant_values=END_MARKER).astype(np.float32)


def read_attached_file(model: bytes, name: str) -> bytes | None:
    """A file appended to a `.tflite` as TFLite metadata appends files (a zip after the
    flatbuffer), or None where there is none of that name."""
    try:
        with zipfile.ZipFile(io.BytesIO(model)) as archive:
            return archive.read(name) if name in archive.namelist() else None
    except zipfile.BadZipFile:
        return None


def read_trainable_settings(model: bytes) -> dict | None:
    """The settings a trainable `.tflite` carries (labels, front-end, slots), or None for another file."""
    data = read_attached_file(model, TRAINABLE_FILE)
    return json.loads(data) if data is not None else None


class ArtifactError(ClassifyError):
    """A model file that is missing, of an unknown kind or not loadable."""


def artifact_kind(path: str, kinds=tuple(KINDS.values())) -> str:
    """"keras", "tflite", "onnx" or "openvino" (an IR's .xml), from the file's extension.

    Args:
        path: a model file.
        kinds: the kinds the caller takes.

    Raises:
        ArtifactError: another extension, or a kind not in `kinds`.
    """
    kind = KINDS.get(os.path.splitext(str(path))[1].lower())
    if kind not in kinds:
        expected = ", ".join(extension for extension, kind in KINDS.items() if kind in kinds)
        raise ArtifactError(f"{path}: expected a {expected} model.")
    return kind


def tflite_interpreter(model, num_threads: int = 1, allocate: bool = True):
    """An ai-edge-litert interpreter for a `.tflite` path or flatbuffer bytes.

    Raises:
        ArtifactError: naming the file when it is not a loadable model.
    """
    from ai_edge_litert.interpreter import Interpreter

    source = model if isinstance(model, str) else "<model bytes>"
    try:
        interpreter = (Interpreter(model_path=model, num_threads=num_threads) if isinstance(model, str)
                       else Interpreter(model_content=model, num_threads=num_threads))
        if allocate:
            interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as error:
        raise ArtifactError(f"{source}: not a loadable .tflite model ({error}).") from error
    return interpreter


def onnx_session(path: str, num_threads: int = 1):
    """An onnxruntime CPU session of `path` with `num_threads` intra-op threads.

    Raises:
        ArtifactError: naming the file when it is not a loadable model.
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = num_threads
    options.inter_op_num_threads = 1
    try:
        return onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own exception types
        raise ArtifactError(f"{path}: not a loadable ONNX model ({error}).") from error


def openvino_core():
    """The process's OpenVINO `Core` (one is enough; each holds its plugins).

    Raises:
        ArtifactError: OpenVINO is not installed.
    """
    global _OPENVINO_CORE
    if _OPENVINO_CORE is None:
        try:
            import openvino
        except ImportError as error:
            raise ArtifactError("OpenVINO IR needs the `openvino` package (pip install -e '.[openvino]').") from error
        _OPENVINO_CORE = openvino.Core()
    return _OPENVINO_CORE


_OPENVINO_CORE = None


def openvino_model(path: str, num_threads: int = 1):
    """An OpenVINO IR (`.xml` with its `.bin` beside it) compiled for the CPU with `num_threads`
    inference threads, at the precision the IR names (`OPENVINO_PRECISION_KEY`, else f32).

    What precision OpenVINO actually runs is `compiled.get_property("INFERENCE_PRECISION_HINT")`
    (`openvino_precision`).

    Raises:
        ArtifactError: naming the file when it or its weights are missing or it is not an IR.
    """
    weights = os.path.splitext(path)[0] + ".bin"
    try:
        with open(path, "rb") as handle:
            head = handle.read(1024)
    except OSError as error:
        raise ArtifactError(f"{path}: cannot be read ({error.strerror}).") from error
    if b"<net " not in head:  # else OpenVINO tries every front-end's reader on it, each logging
        raise ArtifactError(f"{path}: not an OpenVINO IR (an IR's .xml starts with a <net> element).")
    if not os.path.isfile(weights):
        raise ArtifactError(f"{path}: no weights file {os.path.basename(weights)} beside the OpenVINO IR.")
    core = openvino_core()
    try:
        model = core.read_model(path, weights)
        precision = (model.get_rt_info(OPENVINO_PRECISION_KEY).astype(str) if model.has_rt_info(OPENVINO_PRECISION_KEY)
                     else OPENVINO_DEFAULT_PRECISION)
        return core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": precision,
                                                 "INFERENCE_NUM_THREADS": num_threads,
                                                 "PERFORMANCE_HINT": "LATENCY"})
    except RuntimeError as error:  # OpenVINO's errors are RuntimeErrors with many lines
        raise ArtifactError(f"{path}: not a loadable OpenVINO IR ({openvino_message(error)}).") from error


def openvino_precision(compiled) -> str:
    """The precision a compiled OpenVINO model computes in, as OpenVINO names it ("f32", "bf16")."""
    return compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()


def openvino_message(error: Exception) -> str:
    """What an OpenVINO error says, without the "Exception from <source file>" lines it starts with."""
    lines = [line.strip() for line in str(error).splitlines()]
    return next((line for line in lines if line and not line.startswith("Exception from")), type(error).__name__)
