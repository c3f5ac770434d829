"""absl flags shared by `convert.tflite`, `convert.onnx` and `convert.openvino`, and their resolution."""

from __future__ import annotations

import os

from absl import app, flags

from keras_airn.export.common import CALIBRATION_CLIPS, EVAL_CLIPS
from keras_airn.network.model import VGGSOUND_CLASSES
from keras_airn.network.registry import BASELINE as BASELINE_FAMILY
from keras_airn.network.registry import create_network, list_networks, sized_for

MODEL = flags.DEFINE_string("model", None, "A .keras (train or deploy form, or a saved AudioClassifier), a "
                            "preset/run folder, or an official .pyth file.")
OUT_DIR = flags.DEFINE_string("out_dir", None, "Output directory (artifacts, labels.json, front_end.json, report).")
BASELINE = flags.DEFINE_string("baseline", None, "Instead of --model: a baseline of the network registry (one of "
                               f"{', '.join(list_networks(BASELINE_FAMILY))}), built with random weights at the "
                               "--front_end's input (default vggsound: 512 x 128) for size and speed; int8 then "
                               "needs --random_calibration or data.")
NUM_CLASSES = flags.DEFINE_integer("num_classes", VGGSOUND_CLASSES, "--baseline: output classes.")
KEEP_TRAIN = flags.DEFINE_bool("keep_train_form", False, "Export the train form as it is (for comparison).")
DATASET = flags.DEFINE_enum("dataset", "vggsound", ["vggsound", "folder", "csv"],
                            "Layout of the clips for calibration/parity: vggsound (--data_dir + --csv), "
                            "folder (--data_dir/<label>/...), csv (--csv with path,label[,split]).")
DATA_DIR = flags.DEFINE_string("data_dir", None, "Audio directory (vggsound or folder layout).")
CSV = flags.DEFINE_string("csv", None, "vggsound.csv of --data_dir, or a path,label[,split] CSV.")
EVAL_SPLIT = flags.DEFINE_string("eval_split", "test", "Split that parity and agreement are measured on.")
NUM_EVAL = flags.DEFINE_integer("num_eval", EVAL_CLIPS, "At most this many --eval_split clips (one crop each).",
                                lower_bound=1)
TEST_FRACTION = flags.DEFINE_float("test_fraction", 0.2, "folder/csv without splits: held-out share per class.")
SPLIT_SEED = flags.DEFINE_integer("split_seed", 0, "folder/csv without splits: seed of the split.")
LABELS = flags.DEFINE_string("labels", None, "labels.json (default: beside --model).")
RANDOM_CALIBRATION = flags.DEFINE_bool("random_calibration", False, "Allow calibrating int8 on noise.")
CALIBRATION_SPLIT = flags.DEFINE_string("calibration_split", "train",
                                        "Split of --csv that calibrates int8 (empty: first half of --eval_split).")
NUM_CALIBRATION = flags.DEFINE_integer("num_calibration", CALIBRATION_CLIPS, "At most this many calibration clips.",
                                       lower_bound=1)
CALIBRATION_CSV = flags.DEFINE_string("calibration_csv", None, "CSV of the calibration clips (default: --csv).")
CALIBRATION_DATA_DIR = flags.DEFINE_string("calibration_data_dir", None, "Their audio (default: --data_dir).")
FRONT_END_FILE = flags.DEFINE_string("front_end", None,
                                     "front_end.json or a release dataset name, e.g. vggsound (default: the "
                                     "front_end.json beside --model; required where there is none).")


def define_graph_flags(faster_where: str, time_as_rows: bool | None = True) -> dict:
    """Defines --waveform, --int8_float_head, --sample_rate and --time_as_rows, the flags of the
    exporters that convert the TF function (`convert.tflite`, `convert.openvino`).

    Args:
        faster_where: the runtime --time_as_rows speeds up, for its help text.
        time_as_rows: its default (None: the exporter's choice, said in `faster_where`).

    Returns:
        {"waveform", "float_head", "sample_rate", "time_as_rows"}: the flag holders.
    """
    return {
        "waveform": flags.DEFINE_bool("waveform", False, "Input (1, samples) PCM with the log-mel inside the model."),
        "float_head": flags.DEFINE_bool("int8_float_head", True, "int8: keep the classifier head (global pool, "
                                        "linear layer) float; 8-bit logits flip close decisions "
                                        "(docs/conversion.md)."),
        "sample_rate": flags.DEFINE_integer("sample_rate", None, "Expected sample rate of a waveform model "
                                            "(checked)."),
        "time_as_rows": flags.DEFINE_bool("time_as_rows", time_as_rows, "Time-axis convolutions as rows on the "
                                          f"transposed layout (identical outputs; {faster_where})."),
    }


def load_classifier():
    """The `AudioClassifier` of --model, with --front_end and --labels applied."""
    from keras_airn.data.features import FrontEnd
    from keras_airn.data.labels import load_labels
    from keras_airn.network.loading import PRESET_FILE, model_file
    from keras_airn.task import AudioClassifier

    if not MODEL.value or not OUT_DIR.value:
        raise app.UsageError("--model (or --baseline) and --out_dir are required.")
    path, front_end = model_file(MODEL.value), None
    if FRONT_END_FILE.value or os.path.basename(path) != PRESET_FILE:
        front_end = FrontEnd.beside_model(path, FRONT_END_FILE.value)
    classifier = AudioClassifier.from_preset(MODEL.value, front_end=front_end)
    if LABELS.value:
        classifier = AudioClassifier(classifier.network, classifier.front_end,
                                     load_labels(LABELS.value, classifier.num_classes))
    return classifier


def read_split(name: str, label_names, csv_path: str | None = None, data_dir: str | None = None):
    """Split `name` of the --dataset data (or the given CSV/folder), or None where no data is given
    or `name` is empty. Without `label_names`, the labels are the data's, sorted."""
    from keras_airn.data import datasets

    csv_path, data_dir = csv_path or CSV.value, data_dir or DATA_DIR.value
    if not name:
        return None
    if DATASET.value == "vggsound":
        if not (csv_path and data_dir):
            return None
        # Training lists and skips rows without audio; a conversion refuses them: the clips that
        # calibrate int8 and measure parity are exactly those named, or the report misleads.
        split, missing = datasets.read_vggsound(csv_path, data_dir, name, label_names)
        if missing:
            raise datasets.DatasetError(
                f"{csv_path}: {len(missing)} row(s) of the {name!r} split have no audio file in {data_dir} "
                f"(e.g. {missing[0]}); give a CSV of the clips you have.")
        return split
    source = data_dir if DATASET.value == "folder" else csv_path
    if not source:
        return None
    reader = datasets.read_folder if DATASET.value == "folder" else datasets.read_csv
    splits = reader(source, test_fraction=TEST_FRACTION.value, seed=SPLIT_SEED.value, label_names=label_names)
    if name not in splits:
        raise app.UsageError(f"The data has no {name!r} split (it has {sorted(splits)}).")
    return splits[name]


def resolve():
    """(network, front-end, label names or None, held-out examples or None) from the flags.

    A model saved without label names takes them from the data (sorted, as training does).
    """
    from keras_airn.task import AudioClassifier

    if BASELINE.value:
        return resolve_baseline()
    classifier = load_classifier()
    split = read_split(EVAL_SPLIT.value, classifier.labels if classifier.has_label_names else None)
    if split is not None and not classifier.has_label_names:
        classifier = AudioClassifier(classifier.network, classifier.front_end, split.label_names)
    return classifier.network, classifier.front_end, classifier.labels, split.examples if split is not None else None


def resolve_baseline():
    """`resolve` for --baseline: the network at the front-end's size, and the data's labels if given."""
    from keras_airn.data.features import FrontEnd

    if MODEL.value:
        raise app.UsageError("Give --model or --baseline, not both.")
    if not OUT_DIR.value:
        raise app.UsageError("--out_dir is required.")
    front_end = FrontEnd.resolve(FRONT_END_FILE.value or "vggsound")
    split = read_split(EVAL_SPLIT.value, None)
    num_classes = len(split.label_names) if split is not None else NUM_CLASSES.value
    baselines = list_networks(BASELINE_FAMILY)
    if BASELINE.value.lower() not in baselines:
        raise app.UsageError(f"Unknown baseline {BASELINE.value!r}; choose one of {', '.join(baselines)}.")
    try:
        network = create_network(BASELINE.value, num_classes,
                                 **sized_for(BASELINE.value, front_end.num_frames, front_end.n_mels))
    except ValueError as error:
        raise app.UsageError(str(error)) from error
    return network, front_end, split.label_names if split is not None else None, (
        split.examples if split is not None else None)


def calibration_examples(label_names):
    """The int8 calibration clips the --calibration_* flags name (None where none are given)."""
    return resolve_calibration(label_names, CALIBRATION_SPLIT.value, CALIBRATION_CSV.value, CALIBRATION_DATA_DIR.value)


def resolve_calibration(label_names, split_name: str, csv_path: str | None, data_dir: str | None):
    """Calibration clips: `split_name` of `csv_path` (default --csv) / `data_dir` (default --data_dir).

    Returns None where no data is given or `split_name` is empty.
    """
    if split_name and (csv_path or CSV.value, split_name) == (CSV.value, EVAL_SPLIT.value) and not data_dir:
        raise app.UsageError(f"--calibration_split {split_name!r} is the split agreement is measured on.")
    split = read_split(split_name, label_names, csv_path, data_dir)
    return split.examples if split is not None else None


def source_name() -> str:
    """What the report records as the model: the --model path, or "baseline:<name>"."""
    return f"baseline:{BASELINE.value}" if BASELINE.value else MODEL.value


def export_arguments(label_names) -> dict:
    """`export_network`'s options that every convert tool has, from its flags."""
    return {"keep_train_form": KEEP_TRAIN.value, "source": source_name(), "num_eval": NUM_EVAL.value,
            "num_calibration": NUM_CALIBRATION.value, "random_calibration": RANDOM_CALIBRATION.value,
            "calibration_examples": calibration_examples(label_names)}


def graph_arguments(graph: dict) -> dict:
    """`export_network`'s waveform, sample_rate, time_as_rows and int8_float_head from the flags
    of `define_graph_flags`."""
    return {"waveform": graph["waveform"].value, "sample_rate": graph["sample_rate"].value,
            "time_as_rows": graph["time_as_rows"].value, "int8_float_head": graph["float_head"].value}


def print_report(report: dict) -> None:
    """The conversion report as a table, one line per artifact, and where the report is."""
    from keras_airn.export.common import REPORT_FILES

    old_runtime = report["format"] == "tflite"
    print(f"{'file':<44} {'bytes':>11} {'ops':>5} {'max rel err':>12} {'top1 agree':>10} {'top1 acc':>9}"
          + ("  tflite-runtime 2.14" if old_runtime else ""))
    for entry in report["artifacts"].values():
        line = (f"{entry['file']:<44} {entry['bytes']:>11,} {sum(entry['ops'].values()):>5} "
                f"{entry['max_rel_logit_error']:>12.2e} {entry['top1_agreement']:>10.3f} "
                f"{entry.get('top1_accuracy', float('nan')):>9.3f}")
        if old_runtime:
            old = entry["tflite_runtime_2_14"]
            line += "  " + ("not checked" if not old["checked"] else "runs" if old["runs"]
                            else f"fails: {old['error'][:70]}")
        print(line)
    print(f"report: {os.path.join(OUT_DIR.value, REPORT_FILES[report['format']])}")
