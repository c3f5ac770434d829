"""Export the deploy model to OpenVINO IR (`.xml` + `.bin`) and check it on OpenVINO's CPU plugin.

Usage:
  python -m convert.openvino --model runs/demo --out_dir export [--precisions fp32,int8] [--waveform] \
      [--data_dir runs/demo/data/audio --csv runs/demo/data/vggsound.csv]

A thin shell over `keras_airn.export.formats.export_network` (format "openvino"), as `AudioClassifier.export` is:
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
from keras_airn.export.formats import export_network  # noqa: E402
from keras_airn.export.openvino import OPENVINO_PRECISIONS  # noqa: E402

PRECISIONS = flags.DEFINE_list("precisions", ["fp32"], f"Any of {', '.join(OPENVINO_PRECISIONS)} (fp32 and int8 "
                               "computed at f32, bf16 at bf16 where the CPU has it; int8: NNCF post-training "
                               "quantisation, calibrated like convert.tflite).")
GRAPH = convert_flags.define_graph_flags("default: rows for fp32, columns for int8 and bf16, the faster on "
                                         "OpenVINO's CPU plugin", time_as_rows=None)


def main(argv):
    del argv
    network, front_end, label_names, examples = convert_flags.resolve()
    report = export_network(network, convert_flags.OUT_DIR.value, "openvino", PRECISIONS.value,
                            **convert_flags.graph_arguments(GRAPH), **convert_flags.export_arguments(label_names),
                            front_end=front_end, label_names=label_names, examples=examples)
    convert_flags.print_report(report)

if __name__ == "__main__":
    cli.run(main)
