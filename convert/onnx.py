"""Export the deploy model to ONNX with tf2onnx and check it with onnxruntime.

Usage:
  python -m convert.onnx --model runs/demo --out_dir export [--opset 17] [--precisions fp32,int8] \
      [--data_dir runs/demo/data/audio --csv runs/demo/data/vggsound.csv]

A thin shell over `keras_airn.export.formats.export_network` (format "onnx"). The input is `log_mel`
(batch, T, n_mels, 1) with a dynamic batch axis; T is fixed by the model's front-end.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TF C++ chatter; override to debug

from absl import flags  # noqa: E402

from convert import flags as convert_flags  # noqa: E402
from keras_airn import cli  # noqa: E402
from keras_airn.export.formats import export_network  # noqa: E402
from keras_airn.export.onnx import DEFAULT_ONNX_INT8_SCHEME, ONNX_INT8_SCHEMES, ONNX_PRECISIONS  # noqa: E402

OPSET = flags.DEFINE_integer("opset", 17, "ONNX opset.")
PRECISIONS = flags.DEFINE_list("precisions", ["fp32"], f"Any of {', '.join(ONNX_PRECISIONS)} (int8: onnxruntime "
                               "static quantisation, QDQ, per-channel weights, calibrated like convert.tflite).")
INT8_SCHEME = flags.DEFINE_enum("int8_scheme", DEFAULT_ONNX_INT8_SCHEME, sorted(ONNX_INT8_SCHEMES),
                                "int8 activation type and weight range (docs/benchmarks.md: which is best where).")


def main(argv):
    del argv
    network, front_end, label_names, examples = convert_flags.resolve()
    report = export_network(network, convert_flags.OUT_DIR.value, "onnx", PRECISIONS.value, opset=OPSET.value,
                            int8_scheme=INT8_SCHEME.value, **convert_flags.export_arguments(label_names),
                            front_end=front_end, label_names=label_names, examples=examples)
    convert_flags.print_report(report)

if __name__ == "__main__":
    cli.run(main)
