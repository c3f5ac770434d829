"""Model files: the one place that picks a loader by file extension and opens a LiteRT
interpreter or an onnxruntime session, each failure naming the file.

Example:
>>> artifact_kind("export/airn_b0_deploy_waveform_int8.tflite")
'tflite'
"""

from __future__ import annotations

import os

from keras_airn.errors import ClassifyError

KINDS = {".keras": "keras", ".tflite": "tflite", ".onnx": "onnx"}


class ArtifactError(ClassifyError):
    """A model file that is missing, of an unknown kind or not loadable."""


def artifact_kind(path: str, kinds=tuple(KINDS.values())) -> str:
    """"keras", "tflite" or "onnx", from the file's extension.

    Args:
        path: a model file.
        kinds: the kinds the caller takes.

    Raises:
        ArtifactError: another extension, or a kind not in `kinds`.
    """
    kind = KINDS.get(os.path.splitext(str(path))[1].lower())
    if kind not in kinds:
        expected = ", ".join(f".{k}" for k in kinds)
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
