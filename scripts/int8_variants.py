"""What the TFLite converter allows for int8, and the release's ONNX export: the artifacts behind the
per-CPU-class tables of docs/benchmarks.md (`make bench` runs this, then times them all).

From a train-form `.keras` model (random weights; speed only), into OUT_DIR:
- `<name>_int8_per_tensor.tflite`: per-tensor instead of per-channel weights;
- `<name>_int8_float_dw.tflite`: depthwise convolutions left in float (selective quantisation);
- `<name>_int8_16x8.tflite`: int16 activations, int8 weights;
  (the per-channel int8 with the head float is `convert.tflite`'s own int8; int8 activations are
  always signed here: TF 2.21's converter writes no uint8 (QU8) internals);
- `<name>_release.onnx` / `<name>_release_int8.onnx`: the release's PyTorch architecture (the
  independent re-implementation in tests/torch_reference.py, loaded with the same weights through
  `save_official_checkpoint`) exported by `torch.onnx`, and its onnxruntime static int8
  (`u8s8_reduced`), the pair onnxruntime users get from the authors' code;
- `<name>_release_fp32.xml` / `<name>_release_int8.xml`: that ONNX file read by OpenVINO, at f32,
  and NNCF's int8 of it (every node quantisable, the head too): what OpenVINO users get from the
  authors' code (with the `openvino` extra).

Usage:
  .venv/bin/python scripts/int8_variants.py --model build/bench/b1_train.keras --out_dir build/bench/b1_variants
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository root

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2  # noqa: E402

import keras_airn as ka  # noqa: E402
from keras_airn.export.common import model_for_export  # noqa: E402
from keras_airn.export.tflite import spectrogram_function  # noqa: E402


def tflite_variants(model, front_end, calibration, out_dir: str) -> None:
    frozen = convert_variables_to_constants_v2(spectrogram_function(model, front_end).get_concrete_function())

    def converter():
        c = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
        c.optimizations = [tf.lite.Optimize.DEFAULT]
        c.representative_dataset = lambda: ([x[None]] for x in calibration)
        c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        return c

    per_tensor = converter()
    per_tensor._experimental_disable_per_channel = True  # noqa: SLF001
    sixteen = converter()
    sixteen.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    float_dw = converter()
    float_dw.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=float_dw, debug_dataset=lambda: ([x[None]] for x in calibration[:4]),
        debug_options=tf.lite.experimental.QuantizationDebugOptions(denylisted_ops=["DEPTHWISE_CONV_2D"]))
    for suffix, data in (("per_tensor", per_tensor.convert()), ("16x8", sixteen.convert()),
                         ("float_dw", debugger.get_nondebug_quantized_model())):
        with open(os.path.join(out_dir, f"{model.name}_int8_{suffix}.tflite"), "wb") as handle:
            handle.write(data)


def release_onnx(model, front_end, calibration, out_dir: str) -> None:
    import torch

    from keras_airn.export.onnx import quantize_onnx
    from tests.torch_reference import ReferenceNet

    checkpoint = os.path.join(out_dir, "release.pyth")
    ka.save_official_checkpoint(model, checkpoint)
    net = ReferenceNet(num_classes=model.num_classes, stem=model.stem_width, widths=model.stage_widths,
                       depths=model.depths, expansion=model.expansion, kernels=model.kernel_sizes, deploy=True)
    net.load_state_dict(torch.load(checkpoint)["model_state"])
    net.eval()
    path = os.path.join(out_dir, f"{model.name}_release.onnx")
    example = torch.from_numpy(calibration[:1].transpose(0, 3, 1, 2).copy())  # N x 1 x T x F
    torch.onnx.export(net, example, path, input_names=["log_mel"], output_names=["logits"], opset_version=17,
                      dynamic_axes={"log_mel": {0: "batch"}}, dynamo=False)
    from keras_airn.export.onnx import run_onnx

    logits, expected = run_onnx(path, calibration[:2].transpose(0, 3, 1, 2)), model.predict(calibration[:2], verbose=0)
    error = float(np.abs(logits - expected).max() / np.abs(expected).max())
    if error > 1e-4:
        raise SystemExit(f"the release export differs from the Keras model by {error:.1e}")
    quantize_onnx(path, os.path.join(out_dir, f"{model.name}_release_int8.onnx"), calibration.transpose(0, 3, 1, 2),
                  "u8s8_reduced")
    release_openvino(path, calibration.transpose(0, 3, 1, 2))


def release_openvino(onnx_path: str, calibration: np.ndarray) -> None:
    """OpenVINO IR of the release's ONNX export beside it: fp32 and NNCF int8, both computing at f32."""
    try:
        import openvino
    except ImportError:
        print("openvino is not installed (the `openvino` extra): no release IR written")
        return
    from keras_airn.export.openvino import quantize
    from keras_airn.inference.artifacts import OPENVINO_PRECISION_KEY

    ov_model = openvino.convert_model(onnx_path)
    ov_model.reshape([1, *calibration.shape[1:]])
    for precision, converted in (("fp32", ov_model), ("int8", quantize(ov_model.clone(), calibration, []))):
        converted.set_rt_info("f32", OPENVINO_PRECISION_KEY)
        openvino.save_model(converted, onnx_path.replace(".onnx", f"_{precision}.xml"), compress_to_fp16=False)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--out_dir", required=True)
    parser.add_argument("--calibration", type=int, default=16, help="noise inputs that calibrate int8")
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    front_end = ka.FRONT_ENDS["vggsound"]
    calibration = np.random.default_rng(0).normal(-4.0, 2.0, (args.calibration, front_end.num_frames,
                                                               front_end.n_mels, 1)).astype(np.float32)
    train = ka.load_model(args.model)
    if train.deploy:
        raise SystemExit(f"{args.model} is a deploy form; give the train form (the release export needs its BatchNorms).")
    tflite_variants(model_for_export(train, time_as_rows=True), front_end, calibration, args.out_dir)
    release_onnx(ka.reparameterize(train, fold_identity=False, fold_batchnorm=False), front_end, calibration,
                 args.out_dir)
    print(f"wrote {sorted(os.listdir(args.out_dir))}")


if __name__ == "__main__":
    main()
