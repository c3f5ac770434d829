"""absl flags shared by the training entry points, and their translation to a `TrainConfig`."""

from __future__ import annotations

from absl import flags

from keras_airn.features import FrontEnd
from keras_airn.training.trainer import TrainConfig

OUT_DIR = flags.DEFINE_string("out_dir", None, "Run directory: checkpoints, logs, final models.")
RESUME = flags.DEFINE_bool("resume", False, "Continue the run in --out_dir from its last epoch.")
EPOCHS = flags.DEFINE_integer("epochs", None, "Epochs (default: the recipe's).")
BATCH_SIZE = flags.DEFINE_integer("batch_size", 32, "Global batch size.")
LR = flags.DEFINE_float("lr", None, "Base learning rate (default: the recipe's).")
LR_STEPS = flags.DEFINE_list("lr_steps", None, "Epochs at which the LR is multiplied by --lr_decay.")
LR_DECAY = flags.DEFINE_float("lr_decay", 0.1, "LR step factor.")
MOMENTUM = flags.DEFINE_float("momentum", 0.9, "SGD momentum.")
WEIGHT_DECAY = flags.DEFINE_float("weight_decay", 1e-4, "Weight decay (not on BN or biases).")
DROPOUT = flags.DEFINE_float("dropout", 0.5, "Dropout before the classifier.")
SEED = flags.DEFINE_integer("seed", 0, "Seed of shuffling, crops, SpecAugment and init.")
SPEC_AUGMENT = flags.DEFINE_bool("spec_augment", True, "Apply SpecAugment in training.")
PRECISE_BN = flags.DEFINE_integer("precise_bn_batches", 200, "Batches for BN re-estimation (0: off).")
EVAL_VIEWS = flags.DEFINE_integer("eval_views", None, "Crops per test clip (default: the dataset's).")
CLIP_SECONDS = flags.DEFINE_float("clip_seconds", None, "Override the clip length (frames follow).")
BAD_AUDIO = flags.DEFINE_enum("bad_audio", "skip", ["skip", "fail"],
                              "Unreadable/empty (or, with --resample=false, wrong-rate) files: report "
                              "and skip, or fail.")
RESAMPLE = flags.DEFINE_bool("resample", True, "Resample files at another rate with soxr HQ, as "
                             "librosa.load does (False: reject them, strict mode).")
STRATEGY = flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multi_worker"],
                             "tf.distribute strategy: one device; all local devices; or every worker TF_CONFIG "
                             "names (start them with train.launch_local or one per host). The last two "
                             "synchronise BatchNorm; --batch_size stays the global batch.")
STOP_AFTER = flags.DEFINE_integer("stop_after_epoch", None, "Stop after this epoch (resume later).")


def train_config(epochs: int, lr: float, lr_steps: tuple[int, ...]) -> TrainConfig:
    """A `TrainConfig` from the flags, with the given recipe defaults."""
    return TrainConfig(
        epochs=EPOCHS.value or epochs,
        batch_size=BATCH_SIZE.value,
        learning_rate=LR.value or lr,
        lr_steps=tuple(int(s) for s in LR_STEPS.value) if LR_STEPS.value is not None else lr_steps,
        lr_decay=LR_DECAY.value,
        momentum=MOMENTUM.value,
        weight_decay=WEIGHT_DECAY.value,
        seed=SEED.value,
        spec_augment=SPEC_AUGMENT.value,
        precise_bn_batches=PRECISE_BN.value,
        eval_views=EVAL_VIEWS.value,
    )


def check_splits(out_dir: str, sample_rate: int, **splits) -> None:
    """Checks every file of each split at start, per --bad_audio; writes bad_audio_<name>.txt.

    Args:
        out_dir: run directory for the reports (written by the chief of a multi-worker run).
        sample_rate: required rate.
        **splits: {name: Split}; their `examples` are replaced by the usable ones.
    """
    import os

    from keras_airn.datasets import check_examples
    from keras_airn.training.distributed import is_chief

    for name, split in splits.items():  # every worker checks; only the chief writes the report
        report = os.path.join(out_dir, f"bad_audio_{name}.txt") if is_chief() else None
        split.examples = check_examples(split.examples, sample_rate, BAD_AUDIO.value, report, RESAMPLE.value)


def front_end(base: FrontEnd) -> FrontEnd:
    """`base` with --clip_seconds applied."""
    if CLIP_SECONDS.value is None:
        return base
    return FrontEnd.from_config({**base.to_config(), "clip_seconds": CLIP_SECONDS.value})
