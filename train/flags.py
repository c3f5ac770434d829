"""absl flags shared by the training entry points, and their translation to a `TrainConfig`."""

from __future__ import annotations

import dataclasses
import math

from absl import flags

from keras_airn.data.audio import RESAMPLERS
from keras_airn.data.datasets import BAD_AUDIO_MODES
from keras_airn.data.features import FrontEnd
from keras_airn.training.recipes import RECIPES, TrainConfig, overridden, recipe
from keras_airn.training.spec_augment import STYLES

OUT_DIR = flags.DEFINE_string("out_dir", None, "Run directory: checkpoints, logs, final models.")
RESUME = flags.DEFINE_bool("resume", False, "Continue the run in --out_dir from its last epoch (a folder with no "
                           "run yet: start one there).")
RECIPE = flags.DEFINE_enum("recipe", None, list(RECIPES), "Training recipe: `release` (the authors': the "
                           "default for the release's datasets) or `small_data` (the default for folder/csv). "
                           "Flags below override its fields.")
EPOCHS = flags.DEFINE_integer("epochs", None, "Epochs (default: the recipe's; small_data: enough for "
                              "--min_steps).", lower_bound=1)
MIN_STEPS = flags.DEFINE_integer("min_steps", None, "Optimizer steps a run without --epochs takes at least "
                                 "(small_data).", lower_bound=1)
MAX_EPOCHS = flags.DEFINE_integer("max_epochs", None, "...but at most this many epochs (small_data: 60).",
                                  lower_bound=1)
BATCH_SIZE = flags.DEFINE_integer("batch_size", None, "Global batch size, kept as given (default: the recipe's; "
                                  "small_data: 32, smaller for --min_steps_per_epoch).", lower_bound=1)
MIN_STEPS_PER_EPOCH = flags.DEFINE_integer(
    "min_steps_per_epoch", None, "A training set too small for this many batches an epoch gets smaller ones, a "
    "multiple of 4, at least 8 (small_data: 10; 0: off).", lower_bound=0)
LR = flags.DEFINE_float("learning_rate", None, "Peak learning rate (default: the recipe's).")
flags.DEFINE_alias("lr", "learning_rate")
LR_STEPS = flags.DEFINE_list("lr_steps", None, "Epochs at which the LR is multiplied by --lr_decay (step schedule).")
LR_DECAY = flags.DEFINE_float("lr_decay", None, "LR step factor.")
MOMENTUM = flags.DEFINE_float("momentum", None, "SGD momentum.")
NESTEROV = flags.DEFINE_bool("nesterov", None, "Nesterov momentum (SGD; the release's recipe: on).")
WEIGHT_DECAY = flags.DEFINE_float("weight_decay", None, "Weight decay (not on BatchNorm; AdamW: nor on biases).",
                                  lower_bound=0.0)
DROPOUT = flags.DEFINE_float("dropout", 0.5, "Dropout before the classifier.")
SEED = flags.DEFINE_integer("seed", 0, "Seed of shuffling, crops, SpecAugment and init.")
SPEC_AUGMENT = flags.DEFINE_bool("spec_augment", None, "Apply SpecAugment in training (default: the recipe's).")
SPEC_AUGMENT_STYLE = flags.DEFINE_enum("spec_augment_style", None, list(STYLES), "SpecAugment as the release "
                                       "samples it (`release`) or as its paper describes it (`clean`); default: "
                                       "the recipe's.")
TIME_MASK_SHARE = flags.DEFINE_float("time_mask_share", None, "SpecAugment's time masks at most this share of "
                                      "the crop's frames and never wider than 25 (0: 25 frames, as the release; "
                                      "default: the recipe's).", lower_bound=0.0, upper_bound=1.0)
# The waveform augmentation's flags: (`WaveAugment` field, flag, upper bound, help); each is off at 0.
_WAVE_FLAGS = (
    ("gain_db", "gain_db", 59.0, "Random gain of each training crop, uniform in +-this many dB (0: off; default: "
                                 "the recipe's)."),
    ("speed", "speed_perturbation", 0.49, "Random speed of each training crop, a factor uniform in 1 +- this (0: "
                                          "off; default: the recipe's)."),
    ("equalizer_db", "equalizer_db", 59.0, "Random smooth response over the mel bands of each training crop, at "
                                           "most this many dB (0: off; default: the recipe's)."),
    ("noise_snr_db", "noise_snr_db", 59.0, "Gaussian noise of a random colour added to each training crop at a "
                                           "signal-to-noise ratio uniform in [this, this + 30] dB (0: off; "
                                           "default: the recipe's)."),
    ("dc_offset", "dc_offset", 1.0, "Random constant added to each training crop, uniform in +-this times its "
                                    "root-mean-square level (0: off; default: the recipe's)."),
    ("freq_warp", "freq_warp", 0.49, "Random warp of each training crop's frequency axis by a factor uniform in 1 "
                                     "+- this, tempo unchanged (vocal tract length perturbation; 0: off; default: "
                                     "the recipe's)."),
)
WAVE_FLAGS = {field: flags.DEFINE_float(name, None, help_text, lower_bound=0.0, upper_bound=upper)
              for field, name, upper, help_text in _WAVE_FLAGS}  # {WaveAugment field: flag}
PRECISE_BN = flags.DEFINE_integer("precise_bn_batches", None, "Batches for BN re-estimation, at most one pass "
                                  "(0: off; default: the recipe's).", lower_bound=0)
PRECISE_BN_EACH_EPOCH = flags.DEFINE_bool("precise_bn_each_epoch", None, "Re-estimate BN after every epoch (the "
                                          "release's; default: the recipe's) instead of once at the end.")
SELECT_BEST = flags.DEFINE_bool("select_best", None, "Evaluate the epoch with the best validation top-1 (one "
                                "random crop per test clip, every --eval_period epochs and the last), as the "
                                "release does, instead of the last; needs a test split.")
EVAL_PERIOD = flags.DEFINE_integer("eval_period", None, "With --select_best: validate every this many epochs "
                                   "(default 2, the release's).", lower_bound=1)
EVAL_VIEWS = flags.DEFINE_integer("eval_views", None, "Crops per test clip (default: the dataset's).", lower_bound=1)
CLIP_SECONDS = flags.DEFINE_float("clip_seconds", None, "Override the clip length (frames follow; folder/csv "
                                  "default: from the training clips' lengths).")
BAD_AUDIO = flags.DEFINE_enum("bad_audio", "skip", list(BAD_AUDIO_MODES),
                              "Unreadable/empty (or, with --resample=false, wrong-rate) files, and crops "
                              "with NaN/Inf samples met during the run: list in bad_audio_<split>.txt and "
                              "skip, or fail naming the file.")
RESAMPLER = flags.DEFINE_enum("resampler", None, list(RESAMPLERS), "Resampler of files at another rate: "
                               "kaiser_best (resampy; the release's librosa 0.9.2: the default for its datasets) "
                               "or soxr_hq (the default for folder/csv).")
RESAMPLE = flags.DEFINE_bool("resample", True, "Resample files at another rate, as librosa.load does "
                             "(--resampler; False: reject them, strict mode).")
STRATEGY = flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multi_worker"],
                             "tf.distribute strategy: one device; all local devices; or every worker TF_CONFIG "
                             "names (start them with train.launch_local or one per host). The last two "
                             "synchronise BatchNorm; --batch_size stays the global batch.")
STOP_AFTER = flags.DEFINE_integer("stop_after_epoch", None, "Stop after this epoch (resume later).")
CHECKPOINT_MINUTES = flags.DEFINE_float("checkpoint_minutes", None, "Checkpoint at an epoch's end only when this "
                                        "long has passed since the last (0: every epoch; default: the recipe's).",
                                        lower_bound=0.0)

def _positive_finite(value) -> bool:
    return value is None or (math.isfinite(value) and value > 0)


for _flag in (LR, CLIP_SECONDS):
    flags.register_validator(_flag.name, _positive_finite, f"--{_flag.name} must be a positive number.")
flags.register_validator(DROPOUT.name, lambda value: 0 <= value < 1, "--dropout must be in [0, 1).")
flags.register_validator(LR_STEPS.name, lambda value: value is None or all(s.strip().isdigit() for s in value),
                         "--lr_steps must be whole epochs separated by commas, e.g. 20,25.")
flags.register_multi_flags_validator(
    [EVAL_PERIOD.name, SELECT_BEST.name], lambda values: values[EVAL_PERIOD.name] is None or values[SELECT_BEST.name],
    "--eval_period is the validation period of --select_best: give --select_best too.")

# The TrainConfig field each flag overrides when given: the one of its name (`WAVE_FLAGS`: of `wave`).
_OVERRIDES = {flag.name: flag for flag in (
    EPOCHS, MIN_STEPS, MAX_EPOCHS, BATCH_SIZE, MIN_STEPS_PER_EPOCH, LR, LR_DECAY, MOMENTUM, NESTEROV, WEIGHT_DECAY, SEED, SPEC_AUGMENT,
    SPEC_AUGMENT_STYLE, TIME_MASK_SHARE, PRECISE_BN, PRECISE_BN_EACH_EPOCH, SELECT_BEST, EVAL_PERIOD, EVAL_VIEWS, CHECKPOINT_MINUTES)}


def train_config(default_recipe: str, finetuning: bool) -> TrainConfig:
    """The --recipe (else `default_recipe`) `TrainConfig`, with the flags given on the command line."""
    base = recipe(RECIPE.value or default_recipe, finetuning)
    fields = {field: flag.value for field, flag in _OVERRIDES.items() if flag.value is not None}
    if LR_STEPS.value is not None:
        fields["lr_steps"] = tuple(int(s) for s in LR_STEPS.value)
    wave = {field: flag.value for field, flag in WAVE_FLAGS.items() if flag.value is not None}
    return overridden(base, wave=dataclasses.replace(base.wave, **wave), **fields)


def check_splits(out_dir: str, sample_rate: int, **splits) -> None:
    """Checks every file of each split at start, per --bad_audio and --resample; writes
    bad_audio_<name>.txt (`training.bad_audio.checked_split`).

    Args:
        out_dir: run directory for the reports (written by the chief of a multi-worker run).
        sample_rate: required rate.
        **splits: {name: Split}; their `examples` are replaced by the usable ones.

    Raises:
        DatasetError: a split has no usable file.
    """
    from keras_airn.training.bad_audio import checked_split

    for name, split in splits.items():  # every worker checks; only the chief writes the report
        usable = checked_split(split, name, sample_rate, out_dir, BAD_AUDIO.value, resample=RESAMPLE.value)
        split.examples = usable.examples


def front_end(base: FrontEnd, own_audio: bool = False) -> FrontEnd:
    """`base` with --clip_seconds and --resampler applied; own audio (folder, csv) resamples with
    soxr unless --resampler says otherwise, whatever `base` (a release dataset's) used."""
    changes = {"clip_seconds": CLIP_SECONDS.value, "resampler": RESAMPLER.value or (FrontEnd.resampler if own_audio
                                                                                      else None)}
    return dataclasses.replace(base, **{k: v for k, v in changes.items() if v is not None})


def build(make_classifier, config: TrainConfig):
    """The run's classifier, made as the training loop needs it: under --strategy multi_worker the
    strategy first (TensorFlow configures a cluster before any other operation), and new weights
    drawn from --seed (the same on every worker).

    Args:
        make_classifier: zero-argument callable returning an `AudioClassifier`.
        config: the recipe (`train_config`).
    """
    import keras

    from keras_airn.training.distributed import make_strategy

    if STRATEGY.value == "multi_worker":
        make_strategy("multi_worker")
    keras.utils.set_random_seed(config.seed)
    return make_classifier()


def fit(classifier, train_split, test_split, config: TrainConfig) -> None:
    """`AudioClassifier.fit` with --out_dir, --resume, --strategy, --stop_after_epoch and
    --bad_audio; prints the run's summary as JSON.

    Args:
        classifier: the `AudioClassifier` of `build`.
        train_split, test_split: the data (`test_split` may be None), checked by `check_splits`.
        config: the recipe (`train_config`).
    """
    from keras_airn import files

    history = classifier.fit(train_split, validation_data=test_split, out_dir=OUT_DIR.value, resume=RESUME.value,
                             recipe=config, strategy=STRATEGY.value, stop_after_epoch=STOP_AFTER.value,
                             bad_audio=BAD_AUDIO.value)
    print(files.json_text(history.summary))
