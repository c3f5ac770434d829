"""absl flags shared by `convert.tflite` and `convert.onnx`, and their resolution."""

from __future__ import annotations

import os

from absl import app, flags

MODEL = flags.DEFINE_string("model", None, "A .keras (train or deploy form) or official .pyth file.")
OUT_DIR = flags.DEFINE_string("out_dir", None, "Output directory (artifacts, labels.txt, report.json).")
KEEP_TRAIN = flags.DEFINE_bool("keep_train_form", False, "Export the train form as it is (for comparison).")
DATA_DIR = flags.DEFINE_string("data_dir", None, "Audio directory (VGG-Sound layout) for calibration/parity.")
CSV = flags.DEFINE_string("csv", None, "vggsound.csv of --data_dir: parity and agreement on its --eval_split.")
EVAL_SPLIT = flags.DEFINE_string("eval_split", "test", "Split of --csv that parity and agreement are measured on.")
NUM_EVAL = flags.DEFINE_integer("num_eval", 500, "At most this many --eval_split clips (one crop each).")
LABELS = flags.DEFINE_string("labels", None, "labels.json (default: beside --model).")
FRONT_END_FILE = flags.DEFINE_string("front_end", None,
                                     "front_end.json (default: beside --model, else VGG-Sound settings).")


def resolve():
    """(front_end, label names or None, held-out examples or None) from the flags.

    Training runs write `front_end.json` and `labels.json` beside their models; they are used
    when the flags do not name other files.
    """
    from keras_airn.features import FrontEnd
    from train.datasets import load_label_map, read_vggsound

    if not MODEL.value or not OUT_DIR.value:
        raise app.UsageError("--model and --out_dir are required.")
    front_end = FrontEnd.beside_model(MODEL.value, FRONT_END_FILE.value)
    beside = os.path.dirname(os.path.abspath(MODEL.value))
    labels_path = LABELS.value or os.path.join(beside, "labels.json")
    label_names = load_label_map(labels_path) if os.path.isfile(labels_path) else None
    examples = None
    if DATA_DIR.value and CSV.value:
        split, _ = read_vggsound(CSV.value, DATA_DIR.value, EVAL_SPLIT.value, label_names)
        label_names = label_names or split.label_names
        examples = split.examples
    return front_end, label_names, examples


def resolve_calibration(label_names, split_name: str, csv_path: str | None, data_dir: str | None):
    """Calibration clips: `split_name` of `csv_path` (default --csv) under `data_dir` (default --data_dir).

    Returns None where no CSV is given or `split_name` is empty.
    """
    from train.datasets import read_vggsound

    csv_path, data_dir = csv_path or CSV.value, data_dir or DATA_DIR.value
    if not (csv_path and data_dir and split_name):
        return None
    if (csv_path, split_name) == (CSV.value, EVAL_SPLIT.value):
        raise app.UsageError(f"--calibration_split {split_name!r} is the split agreement is measured on.")
    split, _ = read_vggsound(csv_path, data_dir, split_name, label_names)
    return split.examples
