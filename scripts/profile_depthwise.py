"""Where the depthwise time goes: the figures behind docs/profile.md.

1. One 21-tap depthwise conv (+bias, ReLU) per B1 stage shape under LiteRT/XNNPACK, one thread:
   along the time axis (21 x 1), along frequency (1 x 21), and the time conv as rows on the
   transposed layout (what `convert.tflite --time_as_rows` exports).
2. With `--onnx`, onnxruntime's own per-node profile of a model, summed by op kind and kernel.

Usage:
  .venv/bin/python scripts/profile_depthwise.py [--onnx build/bench/b1/airn_b1_deploy_spectrogram.onnx]
3. With `--loop MODEL.tflite`, only invokes that model 100 times (one thread), for a kernel-level
   profile of a whole model; XNNPACK's kernels are named:
     perf record -e cpu-clock -F 2000 -g .venv/bin/python scripts/profile_depthwise.py --loop A.tflite
     perf report --no-children --sort symbol      # shares of xnn_invoke_runtime (--children)
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from ai_edge_litert.interpreter import Interpreter  # noqa: E402

B1_STAGES = [(128, 32, 64), (64, 16, 128), (32, 8, 256), (16, 4, 512)]  # (T, F, C) after the stem


def _tflite(fn, shape) -> bytes:
    function = tf.function(fn, input_signature=[tf.TensorSpec(shape, tf.float32)])
    return tf.lite.TFLiteConverter.from_concrete_functions([function.get_concrete_function()], function).convert()


def _median_ms(model: bytes, shape, runs: int = 200) -> float:
    interpreter = Interpreter(model_content=model, num_threads=1)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], np.random.rand(*shape).astype(np.float32))
    for _ in range(5):
        interpreter.invoke()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        interpreter.invoke()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def depthwise_layouts() -> None:
    rng = np.random.default_rng(0)
    print("stage (T, F, C)   time 21x1        freq 1x21        time as rows (+2 transposes)")
    for frames, bins, channels in B1_STAGES:
        shape = (1, frames, bins, channels)
        column = rng.standard_normal((21, 1, channels, 1)).astype(np.float32)
        row = column.reshape(1, 21, channels, 1)
        bias = rng.standard_normal(channels).astype(np.float32)
        variants = {
            "time": lambda x: tf.nn.relu(tf.nn.depthwise_conv2d(x, column, [1] * 4, "SAME") + bias),
            "freq": lambda x: tf.nn.relu(tf.nn.depthwise_conv2d(x, row, [1] * 4, "SAME") + bias),
            "rows": lambda x: tf.transpose(tf.nn.relu(tf.nn.depthwise_conv2d(
                tf.transpose(x, (0, 2, 1, 3)), row, [1] * 4, "SAME") + bias), (0, 2, 1, 3)),
        }
        macs = frames * bins * channels * 21
        cells = []
        for fn in variants.values():
            ms = _median_ms(_tflite(fn, shape), shape)
            cells.append(f"{ms:.3f} ms {macs / ms / 1e6:5.1f} GMAC/s")
        print(f"{str((frames, bins, channels)):17s} " + "  ".join(cells))


def onnx_profile(path: str, runs: int = 20) -> None:
    import onnx
    import onnxruntime

    with tempfile.TemporaryDirectory() as scratch:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        options.enable_profiling = True
        options.profile_file_prefix = os.path.join(scratch, "ort")
        options.optimized_model_filepath = os.path.join(scratch, "optimized.onnx")
        session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        source = session.get_inputs()[0]
        x = np.random.default_rng(0).normal(-4, 2, [d if isinstance(d, int) else 1 for d in source.shape])
        for _ in range(runs):
            session.run(None, {source.name: x.astype(np.float32)})
        with open(session.end_profiling()) as handle:
            events = json.load(handle)
        kinds = {}
        for node in onnx.load(options.optimized_model_filepath).graph.node:
            attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            depthwise = " depthwise" if attributes.get("group", 1) > 1 else ""
            kinds[node.name] = f"{node.op_type} {attributes.get('kernel_shape', '')}{depthwise}"
    total = collections.Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            total[kinds.get(event["name"][: -len("_kernel_time")], event["name"])] += event["dur"]
    print(f"onnxruntime per-run time by op kind ({path}, one thread):")
    for kind, microseconds in total.most_common(10):
        print(f"  {kind:35s} {microseconds / runs / 1e3:7.2f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--onnx", help="also profile this .onnx model with onnxruntime")
    parser.add_argument("--loop", help="only invoke this .tflite 100 times (run under perf)")
    arguments = parser.parse_args()
    if arguments.loop:
        detail = Interpreter(model_path=arguments.loop).get_input_details()[0]
        with open(arguments.loop, "rb") as handle:
            print(f"{arguments.loop}: median {_median_ms(handle.read(), detail['shape'], runs=100):.1f} ms")
        raise SystemExit
    depthwise_layouts()
    if arguments.onnx:
        onnx_profile(arguments.onnx)
