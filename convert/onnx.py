"""Export the deploy model to ONNX with tf2onnx and check it with onnxruntime.

Usage:
  python -m convert.onnx --model runs/demo --out_dir export [--opset 17] \
      [--data_dir runs/demo/data/audio --csv runs/demo/data/vggsound.csv]

A thin shell over `keras_airn.export.onnx.export_onnx`. The input is `log_mel`
(batch, T, n_mels, 1) with a dynamic batch axis; T is fixed by the model's front-end.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TF C++ chatter; override to debug

from absl import flags  # noqa: E402

from keras_airn import cli  # noqa: E402

from convert import flags as convert_flags  # noqa: E402
from keras_airn.export.onnx import export_onnx  # noqa: E402

OPSET = flags.DEFINE_integer("opset", 17, "ONNX opset.")


def main(argv):
    del argv
    classifier, examples = convert_flags.resolve()
    report = export_onnx(classifier.network, convert_flags.out_dir_ready(), opset=OPSET.value,
                         keep_train_form=convert_flags.KEEP_TRAIN.value, front_end=classifier.front_end,
                         examples=examples, label_names=classifier.labels, num_eval=convert_flags.NUM_EVAL.value,
                         source=convert_flags.MODEL.value)
    entry = report["onnx"]
    print(f"{entry['file']}: {entry['bytes']:,} bytes, {sum(entry['ops'].values())} nodes, opset {entry['opset']}, "
          f"max rel logit error {entry['max_rel_logit_error']:.2e}, top-1 agreement {entry['top1_agreement']:.3f}")
    print(f"report: {os.path.join(convert_flags.OUT_DIR.value, 'report_onnx.json')}")


if __name__ == "__main__":
    cli.run(main)
