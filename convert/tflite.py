"""Convert an AudioRepInceptionNeXt to TensorFlow Lite, with a parity report.

Usage:
  python -m convert.tflite --model runs/demo --out_dir export \
      --precisions fp32,fp16,dynamic,int8 --data_dir runs/demo/data/audio --csv runs/demo/data/vggsound.csv
  python -m convert.tflite --model runs/mine --out_dir export --waveform --precisions int8 \
      --dataset csv --csv runs/mine/split.csv
  python -m convert.tflite --model AudioRepInceptionNeXt_VGGSound.pyth --out_dir export --waveform \
      --precisions fp32 --data_dir ... --csv ...
  python -m convert.tflite --baseline slowfast --out_dir export/slowfast --precisions fp32,int8 --random_calibration

A thin shell over `keras_airn.export.formats.export_network`, as `AudioClassifier.export` is: train forms
are re-parameterised, int8 is calibrated on --calibration_split (noise only with
--random_calibration), and every artifact is run and compared with the Keras model.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TF C++ chatter; override to debug

from absl import app, flags  # noqa: E402

from convert import flags as convert_flags  # noqa: E402
from keras_airn import cli  # noqa: E402
from keras_airn.export.formats import export_network  # noqa: E402
from keras_airn.export.tflite import PRECISIONS  # noqa: E402
from keras_airn.export.replay import DEFAULT_REPLAY_PER_CLASS  # noqa: E402
from keras_airn.export.trainable import DEFAULT_MAX_CLASSES_EXTRA  # noqa: E402

PRECISION_FLAG = flags.DEFINE_list("precisions", ["fp32"], f"Any of {', '.join(PRECISIONS)}.")
GRAPH = convert_flags.define_graph_flags("faster under XNNPACK")
INT8_IO = flags.DEFINE_bool("int8_io", False, "int8: int8 input/output tensors instead of float.")
TRAINABLE = flags.DEFINE_bool("trainable", False, "Write models that learn on the device (precisions fp32, "
                               "dynamic, int8): signatures infer, train, get_weights, set_weights; "
                               "edge.personalise enrols clips.")
MAX_CLASSES = flags.DEFINE_integer("max_classes", None, "--trainable: head slots, the model's classes included "
                                   f"(default: those + {DEFAULT_MAX_CLASSES_EXTRA}).")
ADAPT_STAGES = flags.DEFINE_integer("adapt_stages", 0, "--trainable: the last stages whose pointwise layers learn "
                                    "beside the head (0: the head alone; 2: what training the whole network "
                                    "does on a new voice, a larger file: docs/personalise.md).")
REPLAY_PER_CLASS = flags.DEFINE_integer("replay_per_class", None, "--trainable: calibration clips per class whose "
                                        "embeddings the file carries, mixed into enrolments for the classes they "
                                        f"leave out (default {DEFAULT_REPLAY_PER_CLASS}; 0: none).")


def main(argv):
    del argv
    if TRAINABLE.value and INT8_IO.value:
        raise app.UsageError("--int8_io does not go with --trainable: a trainable model takes and returns float.")
    if (ADAPT_STAGES.value or REPLAY_PER_CLASS.value is not None) and not TRAINABLE.value:
        raise app.UsageError("--adapt_stages and --replay_per_class go with --trainable.")
    network, front_end, label_names, examples = convert_flags.resolve()
    report = export_network(network, convert_flags.OUT_DIR.value, "tflite", PRECISION_FLAG.value,
                            trainable=TRAINABLE.value, max_classes=MAX_CLASSES.value, int8_io=INT8_IO.value,
                            **convert_flags.graph_arguments(GRAPH), **convert_flags.export_arguments(label_names),
                            front_end=front_end, label_names=label_names, examples=examples,
                            adapt_stages=ADAPT_STAGES.value, replay_per_class=REPLAY_PER_CLASS.value)
    convert_flags.print_report(report)

if __name__ == "__main__":
    cli.run(main)
