"""Export the deploy model to ONNX with tf2onnx and check it with onnxruntime.

Usage:
  python -m convert.onnx --model runs/demo/model_train.keras --out_dir export [--opset 17] \
      [--data_dir runs/demo/data/audio --csv runs/demo/data/vggsound.csv]

The input is `log_mel` (batch, T, n_mels, 1) with a dynamic batch axis; T is fixed by the
front-end (`front_end.json` beside the model, else VGG-Sound's 512).
"""

from __future__ import annotations

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TF C++ chatter; override to debug

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from convert import flags as convert_flags  # noqa: E402
from convert.common import ConversionError, held_out_inputs, load_model_for_export, parity, write_atomically  # noqa: E402

OPSET = flags.DEFINE_integer("opset", 17, "ONNX opset.")
ONNX_BOUND = 1e-4


def run_onnx(path: str, inputs: np.ndarray, threads: int = 1) -> np.ndarray:
    """Runs an ONNX model with onnxruntime (CPU) on a batch."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: inputs.astype(np.float32)})[0]


def export_onnx(model_path: str, out_dir: str, *, opset: int = 17, keep_train_form: bool = False,
                front_end=None, examples=None, label_names=None, num_eval: int = 32) -> dict:
    """Converts to ONNX, checks parity with Keras in onnxruntime, writes the file and a report.

    Returns:
        The report (also `out_dir/report_onnx.json`).
    """
    import onnx
    import tensorflow as tf
    import tf2onnx

    from keras_airn.features import FRONT_ENDS

    front_end = front_end or FRONT_ENDS["vggsound"]
    model = load_model_for_export(model_path, keep_train_form)
    signature = [tf.TensorSpec([None, front_end.num_frames, front_end.n_mels, 1], tf.float32, name="log_mel")]
    function = tf.function(lambda x: model(x, training=False), input_signature=signature)
    try:
        proto, _ = tf2onnx.convert.from_function(function, input_signature=signature, opset=opset)
    except Exception as error:  # tf2onnx raises many types
        raise ConversionError(f"tf2onnx could not convert {model_path!r} at opset {opset}: {error}") from error
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
    write_atomically(data, path)
    if label_names:
        with open(os.path.join(out_dir, "labels.txt"), "w") as handle:
            handle.writelines(f"{label}\n" for label in label_names)
    report = {"model": model_path, "form": model.form, "eval_clips": int(len(inputs)), "onnx": entry}
    with open(os.path.join(out_dir, "report_onnx.json"), "w") as handle:
        json.dump(report, handle, indent=1)
    return report


def main(argv):
    del argv
    front_end, label_names, examples = convert_flags.resolve()
    report = export_onnx(convert_flags.MODEL.value, convert_flags.OUT_DIR.value, opset=OPSET.value,
                         keep_train_form=convert_flags.KEEP_TRAIN.value, front_end=front_end,
                         examples=examples, label_names=label_names, num_eval=convert_flags.NUM_EVAL.value)
    entry = report["onnx"]
    print(f"{entry['file']}: {entry['bytes']:,} bytes, {sum(entry['ops'].values())} nodes, opset {entry['opset']}, "
          f"max rel logit error {entry['max_rel_logit_error']:.2e}, top-1 agreement {entry['top1_agreement']:.3f}")
    print(f"report: {os.path.join(convert_flags.OUT_DIR.value, 'report_onnx.json')}")


if __name__ == "__main__":
    app.run(main)
