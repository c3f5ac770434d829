"""Export the deploy model to OpenVINO IR (`.xml` + `.bin`) and check it on OpenVINO's CPU plugin.

Usage:
  python -m convert.openvino --model runs/demo --out_dir export [--precisions fp32,int8] [--waveform] \
      [--data_dir runs/demo/data/audio --csv runs/demo/data/vggsound.csv]

A thin shell over `keras_airn.export.openvino.export_openvino` (also `AudioClassifier.export`):
train forms are re-parameterised, int8 is NNCF's post-training quantisation calibrated on
--calibration_split (noise only with --random_calibration), bf16 is refused on a CPU without bf16
instructions, and every IR is run and compared with the Keras model.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TF C++ chatter; override to debug

from absl import flags  # noqa: E402

from convert import flags as convert_flags  # noqa: E402
from keras_airn import cli  # noqa: E402
from keras_airn.export.openvino import OPENVINO_PRECISIONS, export_openvino  # noqa: E402

PRECISIONS = flags.DEFINE_list("precisions", ["fp32"], f"Any of {', '.join(OPENVINO_PRECISIONS)} (fp32 and int8 "
                               "computed at f32, bf16 at bf16 where the CPU has it; int8: NNCF post-training "
                               "quantisation, calibrated like convert.tflite).")
GRAPH = convert_flags.define_graph_flags("on OpenVINO's CPU plugin too")


def main(argv):
    del argv
    network, front_end, label_names, examples = convert_flags.resolve()
    report = export_openvino(network, convert_flags.OUT_DIR.value, precisions=PRECISIONS.value,
                             waveform=GRAPH["waveform"].value, keep_train_form=convert_flags.KEEP_TRAIN.value,
                             front_end=front_end, examples=examples, label_names=label_names,
                             sample_rate=GRAPH["sample_rate"].value, num_eval=convert_flags.NUM_EVAL.value,
                             source=convert_flags.source_name(),
                             calibration_examples=convert_flags.calibration_examples(label_names),
                             random_calibration=convert_flags.RANDOM_CALIBRATION.value,
                             num_calibration=convert_flags.NUM_CALIBRATION.value, int8_float_head=GRAPH["float_head"].value,
                             time_as_rows=GRAPH["time_as_rows"].value)
    convert_flags.print_report(report)


if __name__ == "__main__":
    cli.run(main)
