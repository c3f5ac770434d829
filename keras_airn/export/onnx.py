"""The deploy model to ONNX with tf2onnx, checked with onnxruntime (`python -m convert.onnx`).

The input is `log_mel` (batch, T, n_mels, 1) with a dynamic batch axis; T is fixed by the
front-end (`front_end.json` beside the model, else VGG-Sound's 512).
"""

from __future__ import annotations

import os

import numpy as np

from keras_airn import files
from keras_airn.export.common import ConversionError, held_out_inputs, model_for_export, parity, write_sidecars

ONNX_BOUND = 1e-4


def run_onnx(path: str, inputs: np.ndarray, threads: int = 1) -> np.ndarray:
    """Runs an ONNX model with onnxruntime (CPU) on a batch."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: inputs.astype(np.float32)})[0]


def export_onnx(model, out_dir: str, *, opset: int = 17, keep_train_form: bool = False,
                front_end=None, examples=None, label_names=None, num_eval: int = 32,
                source: str | None = None) -> dict:
    """Converts to ONNX, checks parity with Keras in onnxruntime, writes the file and a report.

    Args:
        model: an `AudioRepInceptionNeXt` or a model file (.keras, .pyth).
        out_dir: output folder (the artifact, labels.json, front_end.json, report_onnx.json).
        opset: ONNX opset.
        keep_train_form: export a train form as it is.
        front_end: the model's `FrontEnd` (default VGG-Sound's).
        examples: held-out clips for parity and agreement (None: noise).
        label_names: class names.
        num_eval: at most this many clips.
        source: the model's file or folder, recorded in the report (default: `model` if a path).

    Returns:
        The report (also `out_dir/report_onnx.json`).
    """
    import onnx
    import tensorflow as tf
    import tf2onnx

    from keras_airn.features import FRONT_ENDS

    front_end = front_end or FRONT_ENDS["vggsound"]
    source = source or (model if isinstance(model, str) else model.name)
    model = model_for_export(model, keep_train_form)
    signature = [tf.TensorSpec([None, front_end.num_frames, front_end.n_mels, 1], tf.float32, name="log_mel")]
    function = tf.function(lambda x: model(x, training=False), input_signature=signature)
    try:
        proto, _ = tf2onnx.convert.from_function(function, input_signature=signature, opset=opset)
    except Exception as error:  # tf2onnx raises many types
        raise ConversionError(f"tf2onnx could not convert {source!r} at opset {opset}: {error}") from error
    inputs, _, labels = held_out_inputs(examples, front_end, False, num_eval)
    data = proto.SerializeToString()
    os.makedirs(out_dir, exist_ok=True)
    name = f"{model.name}_{'deploy' if model.deploy else 'train'}_spectrogram.onnx"
    path = os.path.join(out_dir, name)
    scratch = path + ".check"
    try:
        with open(scratch, "wb") as handle:
            handle.write(data)
        logits = run_onnx(scratch, inputs)
    finally:
        os.remove(scratch)
    ops: dict[str, int] = {}
    for node in proto.graph.node:
        ops[node.op_type] = ops.get(node.op_type, 0) + 1
    entry = {"file": name, "bytes": len(data), "opset": opset, "ops": dict(sorted(ops.items())),
             **parity(logits, model.predict(inputs, verbose=0), labels), "bound": ONNX_BOUND}
    entry["within_bound"] = entry["max_rel_logit_error"] <= ONNX_BOUND
    if not entry["within_bound"]:
        raise ConversionError(f"ONNX logits differ from Keras by {entry['max_rel_logit_error']:.2e} "
                              f"(bound {ONNX_BOUND}); not written.")
    onnx.checker.check_model(proto)
    write_sidecars(out_dir, front_end, label_names, model.num_classes)
    files.write_bytes(path, data)
    report = {"model": source, "form": model.form, "eval_clips": int(len(inputs)), "onnx": entry}
    files.write_json(os.path.join(out_dir, "report_onnx.json"), report)
    return report
