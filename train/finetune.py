"""Fine-tune AudioRepInceptionNeXt on your own audio or a downstream dataset (or train from scratch).

Recipes (`--recipe`, docs/reference.md section 5): `small_data`, the default for `folder` and
`csv` (AdamW, warm-up and cosine schedule, at least 600 optimizer steps; from scratch the crop
fits 90 % of the training clips whole), and `release`, the default for the release's datasets
(with --init: a fresh linear head on the pre-trained backbone, every BatchNorm frozen except the
stem's, LR 0.001 x0.1 at epochs 20 and 25, 30 epochs; without: the pre-training recipe). With
--init the network keeps its front-end; without it, --model is trained from random weights.

Usage:
  python -m train.finetune --dataset folder --data_dir my_sounds --init runs/demo --out_dir runs/mine
  python -m train.finetune --dataset csv --csv my_sounds.csv --model b0 --out_dir runs/mine
  python -m train.finetune --dataset speechcommands --data_dir SC_V2 --init runs/b1 --out_dir runs/ks2
  python -m train.finetune --dataset urbansound8k --data_dir UrbanSound8K --test_fold 1 \
      --init AudioRepInceptionNeXt_VGGSound.pyth --out_dir runs/us8k_f1
  python -m train.finetune --dataset epic_sounds --data_dir audio --train_csv train.csv \
      --test_csv val.csv --init ... --out_dir runs/epic

`folder`: DIR/<label>/**/*.{wav,flac,ogg,mp3}, or DIR/{train,test,val}/<label>/...; `csv`: a
header `path,label[,split]`. Without split folders or column, each class is split by
--test_fraction and --seed; the split used is written to OUT_DIR/split.csv.
"""

from __future__ import annotations

import dataclasses
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TF C++ chatter; override to debug

from absl import app, flags, logging  # noqa: E402

from keras_airn import cli  # noqa: E402
from keras_airn.network.baselines import BASELINES, input_multiple  # noqa: E402
from keras_airn.errors import KerasAirnError  # noqa: E402
from keras_airn.network.factory import PRESETS  # noqa: E402
from keras_airn.data.features import with_frame_multiple  # noqa: E402

from train import flags as train_flags  # noqa: E402

DATASETS = ("folder", "csv", "speechcommands", "urbansound8k", "nsynth", "epic_sounds")
DATASET = flags.DEFINE_enum("dataset", None, DATASETS, "Dataset layout.")
DATA_DIR = flags.DEFINE_string("data_dir", None, "Dataset root (folder layout; EPIC-Sounds: the recordings).")
CSV = flags.DEFINE_string("csv", None, "--dataset csv: a path,label[,split] file (paths relative to it).")
INIT = flags.DEFINE_string("init", None, "Pre-trained model: a run or preset folder, a .keras file or an "
                           "official .pyth checkpoint. Without it, --model is trained from scratch.")
MODEL = flags.DEFINE_enum("model", "b0", [*sorted(PRESETS), *BASELINES], "Network to train from scratch (no "
                          "--init): an AudioRepInceptionNeXt preset or a keras_airn.network.baselines network.")
FRONT_END = flags.DEFINE_string("front_end", None, "Front-end: a front_end.json or a release dataset name "
                                "(default: the dataset's, else --init's, else vggsound).")
TEST_FRACTION = flags.DEFINE_float("test_fraction", 0.2, "folder/csv without splits: held-out share per class.")
TEST_FOLD = flags.DEFINE_integer("test_fold", 1, "UrbanSound8K held-out fold.")
TRAIN_CSV = flags.DEFINE_string("train_csv", None, "EPIC-Sounds training annotations.")
TEST_CSV = flags.DEFINE_string("test_csv", None, "EPIC-Sounds evaluation annotations.")


def read_splits(dataset: str, sample_rate: int):
    """(train Split, test Split or None, every split read) of --dataset; the last, of folders and
    CSVs only (else None), is what OUT_DIR/split.csv records."""
    from keras_airn.data import datasets

    data_dir = DATA_DIR.value
    if dataset in ("folder", "csv"):
        if dataset == "csv" and not CSV.value:
            raise app.UsageError("--dataset csv needs --csv.")
        if dataset == "folder" and not data_dir:
            raise app.UsageError("--dataset folder needs --data_dir.")
        reader = datasets.read_folder if dataset == "folder" else datasets.read_csv
        splits = reader(data_dir if dataset == "folder" else CSV.value, test_fraction=TEST_FRACTION.value,
                        seed=train_flags.SEED.value)
        return splits["train"], splits.get("test") or splits.get("val"), splits
    if not data_dir:
        raise app.UsageError(f"--dataset {dataset} needs --data_dir.")
    if dataset == "speechcommands":
        return datasets.read_speechcommands(data_dir, "train"), datasets.read_speechcommands(data_dir, "test"), None
    if dataset == "urbansound8k":
        return (datasets.read_urbansound8k(data_dir, "train", TEST_FOLD.value),
                datasets.read_urbansound8k(data_dir, "test", TEST_FOLD.value), None)
    if dataset == "nsynth":
        return datasets.read_nsynth(data_dir, "train"), datasets.read_nsynth(data_dir, "test"), None
    if not TRAIN_CSV.value or not TEST_CSV.value:
        raise app.UsageError("epic_sounds needs --train_csv and --test_csv.")
    return (datasets.read_epic_sounds(TRAIN_CSV.value, data_dir, sample_rate),
            datasets.read_epic_sounds(TEST_CSV.value, data_dir, sample_rate), None)


def base_front_end(dataset: str):
    """The front-end before --clip_seconds and --resampler: --front_end, the release dataset's, --init's,
    or VGG-Sound's settings."""
    from keras_airn.data.features import FRONT_ENDS, FrontEnd, FrontEndError

    if FRONT_END.value:
        return FrontEnd.resolve(FRONT_END.value)
    if dataset in FRONT_ENDS:
        return FRONT_ENDS[dataset]
    if INIT.value:
        try:
            return FrontEnd.beside_model(INIT.value)
        except FrontEndError:
            pass  # an official checkpoint: the release's pre-training front-end
    return FRONT_ENDS["vggsound"]


def baseline_crop(front_end, lengthen: bool):
    """The front-end a from-scratch baseline (--model) can take: its crop a whole multiple of the
    network's stride in frames, lengthened to the next one (`lengthen`) or refused.

    Raises:
        KerasAirnError: not a multiple and not `lengthen`, naming the nearest length that is.
    """
    if INIT.value or MODEL.value.lower() not in BASELINES:
        return front_end
    multiple = input_multiple(MODEL.value)[0]
    fitting = with_frame_multiple(front_end, multiple)
    if fitting.num_frames == front_end.num_frames:
        return front_end
    if not lengthen:
        raise KerasAirnError(f"{MODEL.value} takes whole multiples of {multiple} frames; a {front_end.clip_seconds} s "
                             f"crop gives {front_end.num_frames}: use --clip_seconds {fitting.clip_seconds} "
                             f"({fitting.num_frames} frames).")
    logging.info("Clip length %.3f s (%d frames, was %d): %s takes whole multiples of %d frames.",
                 fitting.clip_seconds, fitting.num_frames, front_end.num_frames, MODEL.value, multiple)
    return fitting


def main(argv):
    del argv
    from keras_airn.data import datasets
    from keras_airn.task import AudioClassifier
    from keras_airn.training.distributed import is_chief
    from keras_airn.training.trainer import check_fit_options, check_out_dir

    if not DATASET.value or not train_flags.OUT_DIR.value:
        raise app.UsageError("--dataset and --out_dir are required.")
    out_dir = train_flags.OUT_DIR.value
    front_end = train_flags.front_end(base_front_end(DATASET.value), own_audio=DATASET.value in ("folder", "csv"))
    # From scratch on own audio, the crop fits the clips; a pre-trained network keeps its front-end.
    fitted_crop = DATASET.value in ("folder", "csv") and not (INIT.value or FRONT_END.value
                                                              or train_flags.CLIP_SECONDS.value)
    if not fitted_crop:
        baseline_crop(front_end, lengthen=False)  # a length the user chose is refused, not changed
    if is_chief():
        check_out_dir(out_dir, train_flags.RESUME.value)  # before any file of the run is written
    train_split, test_split, splits_read = read_splits(DATASET.value, front_end.sample_rate)
    split_file = os.path.join(out_dir, datasets.SPLIT_FILE)
    if splits_read and train_flags.RESUME.value:  # the run's split, before anything is written
        from keras_airn.training.run_state import check_unchanged

        check_unchanged(out_dir, datasets.SPLIT_FILE, datasets.split_csv(splits_read, split_file))
    train_flags.check_splits(out_dir, front_end.sample_rate, train=train_split,
                             **({"test": test_split} if test_split else {}))
    if fitted_crop:
        fitted = datasets.fitted_clip_seconds(train_split.examples, front_end.sample_rate, front_end.clip_seconds)
        front_end = dataclasses.replace(front_end, clip_seconds=fitted)
        logging.info("Clip length %.2f s (%d frames): fits %d%% of the training clips whole (--clip_seconds "
                     "sets it).", fitted, front_end.num_frames, round(datasets.CLIP_QUANTILE * 100))
        front_end = baseline_crop(front_end, lengthen=True)
    logging.info("%s: %d train / %d test clips, %d classes.", DATASET.value, len(train_split.examples),
                 len(test_split.examples) if test_split else 0, train_split.num_classes)

    own_audio = DATASET.value in ("folder", "csv")
    config = train_flags.train_config("small_data" if own_audio else "release", finetuning=bool(INIT.value))
    check_fit_options(config, test_split, train_flags.STRATEGY.value)  # before split.csv is written
    # A pre-trained model that cannot be read is refused here, before the run's files are written.
    classifier = train_flags.build(lambda: AudioClassifier.from_preset(
        INIT.value or MODEL.value, labels=train_split.label_names, front_end=front_end,
        dropout=train_flags.DROPOUT.value), config)
    if splits_read and is_chief():
        datasets.write_split_csv(splits_read, split_file)
    train_flags.fit(classifier, train_split, test_split, config)


if __name__ == "__main__":
    cli.run(main)
