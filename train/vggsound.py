"""Train AudioRepInceptionNeXt on VGG-Sound (or, with --demo, on a generated set).

Usage:
  python -m train.vggsound --data_dir DIR --csv vggsound.csv --out_dir runs/b1 --model b1
  python -m train.vggsound --demo            # makes a small set, trains B0 on it, evaluates
  python -m train.vggsound --out_dir runs/b1 --resume   # continue an interrupted run
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TF C++ chatter; override to debug

from absl import app, flags, logging  # noqa: E402

from keras_airn import cli  # noqa: E402
from keras_airn.network.factory import PRESETS  # noqa: E402

from train import flags as train_flags  # noqa: E402

DATA_DIR = flags.DEFINE_string("data_dir", None, "Directory of {youtube_id}_{start:06d}.{wav,flac}.")
CSV = flags.DEFINE_string("csv", None, "vggsound.csv (youtube_id, start_seconds, label, split).")
LABEL_MAP = flags.DEFINE_string("label_map", None, "JSON list of label names (default: from CSV).")
MODEL = flags.DEFINE_enum("model", "b1", sorted(PRESETS), "Preset.")
KERNEL_SIZES = flags.DEFINE_list("kernel_sizes", None, "Override the mixers' kernel sizes (ablations).")
DEMO = flags.DEFINE_bool("demo", False, "Generate a small labelled set and train on it.")
DEMO_CLIPS = flags.DEFINE_integer("demo_clips_per_class", 24, "Clips per class of the demo set.")

# The demo trains B0 on short clips for a few epochs so that it finishes in minutes on a CPU.
# It resumes by default, so running it again continues (or re-evaluates) the same run.
DEMO_DEFAULTS = dict(model="b0", epochs=10, batch_size=16, lr_steps=["7"], clip_seconds=2.56,
                     precise_bn_batches=10, out_dir="runs/demo", lr=0.05, resume=True)


def _apply_demo_defaults():
    for name, value in DEMO_DEFAULTS.items():
        if not flags.FLAGS[name].present:
            flags.FLAGS[name].value = value


def _demo_set(out_dir: str) -> tuple[str, str]:
    """(audio folder, vggsound.csv) of the demo set under `out_dir/data`, generated if missing."""
    from keras_airn.training.distributed import is_chief
    from train.demo_data import make_demo_set

    data_root = os.path.join(out_dir, "data")
    csv_path = os.path.join(data_root, "vggsound.csv")
    if not os.path.isfile(csv_path):
        if not is_chief():
            raise app.UsageError(f"--demo with several workers: make the set first ({csv_path} is missing), "
                                 f"e.g. with `python -m train.vggsound --demo --stop_after_epoch 0` (same --out_dir).")
        make_demo_set(data_root, clips_per_class=DEMO_CLIPS.value, seed=train_flags.SEED.value)
    return os.path.join(data_root, "audio"), csv_path


def main(argv):
    del argv
    import keras_airn as ka
    from keras_airn.data.datasets import read_vggsound
    from keras_airn.data.features import FRONT_ENDS
    from keras_airn.data.labels import load_labels
    from keras_airn.training.distributed import is_chief
    from keras_airn.training.trainer import check_out_dir

    if DEMO.value:
        _apply_demo_defaults()
    out_dir = train_flags.OUT_DIR.value
    if not out_dir:
        raise app.UsageError("--out_dir is required (or use --demo).")
    data_dir, csv_path = _demo_set(out_dir) if DEMO.value else (DATA_DIR.value, CSV.value)
    if not data_dir or not csv_path:
        raise app.UsageError("--data_dir and --csv are required (or use --demo).")

    front_end = train_flags.front_end(FRONT_ENDS["vggsound"])
    label_names = load_labels(LABEL_MAP.value) if LABEL_MAP.value else None
    train_split, missing_train = read_vggsound(csv_path, data_dir, "train", label_names)
    test_split, missing_test = read_vggsound(csv_path, data_dir, "test", train_split.label_names)
    if is_chief():
        check_out_dir(out_dir, train_flags.RESUME.value)  # before any file of the run is written
    for name, missing in (("train", missing_train), ("test", missing_test)):
        if missing and is_chief():
            report = os.path.join(out_dir, f"missing_{name}.txt")
            with open(report, "w") as handle:
                handle.writelines(f"{stem}\n" for stem in missing)
            logging.warning("%d %s rows have no audio file (listed in %s).", len(missing), name, report)
    train_flags.check_splits(out_dir, front_end.sample_rate, train=train_split, test=test_split)
    logging.info("%d train / %d test clips, %d classes.", len(train_split.examples),
                 len(test_split.examples), train_split.num_classes)

    overrides = {"dropout": train_flags.DROPOUT.value, "num_frames": None}
    if KERNEL_SIZES.value:
        overrides["kernel_sizes"] = [int(k) for k in KERNEL_SIZES.value]
    config = train_flags.train_config("release", finetuning=False)
    classifier = train_flags.build(lambda: ka.AudioClassifier(ka.create_model(
        MODEL.value, num_classes=train_split.num_classes, **overrides), front_end, train_split.label_names), config)
    train_flags.fit(classifier, train_split, test_split, config)


if __name__ == "__main__":
    cli.run(main)
