"""Convert an AudioRepInceptionNeXt to TensorFlow Lite, with a parity report.

Usage:
  python -m convert.tflite --model runs/demo --out_dir export \
      --precisions fp32,fp16,dynamic,int8 --data_dir runs/demo/data/audio --csv runs/demo/data/vggsound.csv
  python -m convert.tflite --model runs/mine --out_dir export --waveform --precisions int8 \
      --dataset csv --csv runs/mine/split.csv
  python -m convert.tflite --model AudioRepInceptionNeXt_VGGSound.pyth --out_dir export --waveform \
      --precisions fp32 --data_dir ... --csv ...
  python -m convert.tflite --baseline slowfast --out_dir export/slowfast --precisions fp32,int8 --random_calibration

A thin shell over `keras_airn.export.tflite.export` (also `AudioClassifier.export`): train forms
are re-parameterised, int8 is calibrated on --calibration_split (noise only with
--random_calibration), and every artifact is run and compared with the Keras model.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TF C++ chatter; override to debug

from absl import app, flags  # noqa: E402

from convert import flags as convert_flags  # noqa: E402
from keras_airn import cli  # noqa: E402
from keras_airn.export.tflite import PRECISIONS, export  # noqa: E402
from keras_airn.export.trainable import export_trainable  # noqa: E402

PRECISION_FLAG = flags.DEFINE_list("precisions", ["fp32"], f"Any of {', '.join(PRECISIONS)}.")
GRAPH = convert_flags.define_graph_flags("under XNNPACK")
INT8_IO = flags.DEFINE_bool("int8_io", False, "int8: int8 input/output tensors instead of float.")
TRAINABLE = flags.DEFINE_bool("trainable", False, "Write models that learn on the device (precisions fp32, "
                               "dynamic, int8): signatures infer, train, get_weights, set_weights; "
                               "edge.personalise enrols clips.")
MAX_CLASSES = flags.DEFINE_integer("max_classes", None, "--trainable: head slots, the model's classes included "
                                   "(default: those + 10).")


def main(argv):
    del argv
    if TRAINABLE.value and INT8_IO.value:
        raise app.UsageError("--int8_io does not go with --trainable: a trainable model takes and returns float.")
    network, front_end, label_names, examples = convert_flags.resolve()
    if TRAINABLE.value:
        report = export_trainable(
            network, convert_flags.OUT_DIR.value, PRECISION_FLAG.value, waveform=GRAPH["waveform"].value,
            front_end=front_end, label_names=label_names, max_classes=MAX_CLASSES.value, examples=examples,
            calibration_examples=convert_flags.calibration_examples(label_names),
            random_calibration=convert_flags.RANDOM_CALIBRATION.value, num_calibration=convert_flags.NUM_CALIBRATION.value,
            num_eval=convert_flags.NUM_EVAL.value, source=convert_flags.source_name(),
            time_as_rows=GRAPH["time_as_rows"].value)
        convert_flags.print_report(report)
        return
    report = export(network, convert_flags.OUT_DIR.value, PRECISION_FLAG.value,
                    waveform=GRAPH["waveform"].value, keep_train_form=convert_flags.KEEP_TRAIN.value, int8_io=INT8_IO.value,
                    front_end=front_end, examples=examples, label_names=label_names,
                    sample_rate=GRAPH["sample_rate"].value, source=convert_flags.source_name(),
                    random_calibration=convert_flags.RANDOM_CALIBRATION.value, num_eval=convert_flags.NUM_EVAL.value,
                    num_calibration=convert_flags.NUM_CALIBRATION.value, time_as_rows=GRAPH["time_as_rows"].value,
                    int8_float_head=GRAPH["float_head"].value,
                    calibration_examples=convert_flags.calibration_examples(label_names))
    convert_flags.print_report(report)


if __name__ == "__main__":
    cli.run(main)
