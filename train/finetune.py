"""Fine-tune a pre-trained AudioRepInceptionNeXt on a downstream dataset (SPEC.md section 5).

A fresh linear head on the pre-trained backbone; every BatchNorm frozen except the stem's;
LR 0.001, x0.1 at epochs 20 and 25, 30 epochs; the dataset's own front-end settings.

Usage:
  python -m train.finetune --dataset speechcommands --data_dir SC_V2 --init runs/b1/model_train.keras \
      --out_dir runs/ks2
  python -m train.finetune --dataset urbansound8k --data_dir UrbanSound8K --test_fold 1 \
      --init AudioRepInceptionNeXt_VGGSound.pyth --out_dir runs/us8k_f1
  python -m train.finetune --dataset epic_sounds --data_dir audio --train_csv train.csv \
      --test_csv val.csv --init ... --out_dir runs/epic
"""

from __future__ import annotations

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TF C++ chatter; override to debug

from absl import app, flags, logging  # noqa: E402

from train import flags as train_flags  # noqa: E402

DATASETS = ("speechcommands", "urbansound8k", "nsynth", "epic_sounds")
DATASET = flags.DEFINE_enum("dataset", None, DATASETS, "Downstream dataset.")
DATA_DIR = flags.DEFINE_string("data_dir", None, "Dataset root (EPIC-Sounds: the recordings' directory).")
INIT = flags.DEFINE_string("init", None, "Pre-trained train-form .keras file or official .pyth checkpoint.")
TEST_FOLD = flags.DEFINE_integer("test_fold", 1, "UrbanSound8K held-out fold.")
TRAIN_CSV = flags.DEFINE_string("train_csv", None, "EPIC-Sounds training annotations.")
TEST_CSV = flags.DEFINE_string("test_csv", None, "EPIC-Sounds evaluation annotations.")


def finetune_model(pretrained, num_classes: int, dropout: float):
    """A copy of `pretrained` with a new head and every BatchNorm but the stem's frozen.

    Args:
        pretrained: a train-form `AudioRepInceptionNeXt`.
        num_classes: classes of the new head.
        dropout: dropout before the head.

    Returns:
        The new model (uncompiled).
    """
    import keras_airn as ka
    from keras_airn.deploy import transfer_weights

    if not isinstance(pretrained, ka.AudioRepInceptionNeXt) or pretrained.deploy:
        raise ValueError("Fine-tuning needs a train-form AudioRepInceptionNeXt (not a deploy model).")
    config = {**pretrained.get_config(), "num_classes": num_classes, "dropout": dropout,
              "num_frames": None, "freeze_batchnorm": True}
    model = ka.AudioRepInceptionNeXt.from_config(config)
    transfer_weights(pretrained, model, skip=("head_projection",))
    return model


def read_splits(dataset: str, data_dir: str, sample_rate: int):
    from train import datasets

    if dataset == "speechcommands":
        return datasets.read_speechcommands(data_dir, "train"), datasets.read_speechcommands(data_dir, "test")
    if dataset == "urbansound8k":
        return (datasets.read_urbansound8k(data_dir, "train", TEST_FOLD.value),
                datasets.read_urbansound8k(data_dir, "test", TEST_FOLD.value))
    if dataset == "nsynth":
        return datasets.read_nsynth(data_dir, "train"), datasets.read_nsynth(data_dir, "test")
    if not TRAIN_CSV.value or not TEST_CSV.value:
        raise app.UsageError("epic_sounds needs --train_csv and --test_csv.")
    return (datasets.read_epic_sounds(TRAIN_CSV.value, data_dir, sample_rate),
            datasets.read_epic_sounds(TEST_CSV.value, data_dir, sample_rate))


def main(argv):
    del argv
    from keras_airn.features import FRONT_ENDS
    from train.trainer import fit

    for name, flag in (("--dataset", DATASET), ("--data_dir", DATA_DIR), ("--init", INIT),
                       ("--out_dir", train_flags.OUT_DIR)):
        if not flag.value:
            raise app.UsageError(f"{name} is required.")
    out_dir = train_flags.OUT_DIR.value
    os.makedirs(out_dir, exist_ok=True)
    front_end = train_flags.front_end(FRONT_ENDS[DATASET.value])
    train_split, test_split = read_splits(DATASET.value, DATA_DIR.value, front_end.sample_rate)
    train_flags.check_splits(out_dir, front_end.sample_rate, train=train_split, test=test_split)
    import keras_airn as ka

    pretrained = ka.load_model(INIT.value)
    logging.info("%s: %d train / %d test clips, %d classes.", DATASET.value, len(train_split.examples),
                 len(test_split.examples), train_split.num_classes)
    summary = fit(
        lambda: finetune_model(pretrained, train_split.num_classes, train_flags.DROPOUT.value),
        train_split,
        test_split,
        front_end,
        train_flags.train_config(epochs=30, lr=0.001, lr_steps=(20, 25)),
        out_dir,
        resume=train_flags.RESUME.value,
        strategy=train_flags.STRATEGY.value,
        stop_after_epoch=train_flags.STOP_AFTER.value,
    )
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    app.run(main)
