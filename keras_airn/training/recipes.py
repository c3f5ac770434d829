"""Training recipes: `TrainConfig` and the named instances every entry point starts from.

`release`: the authors' recipe (SGD, step schedule, a fixed number of epochs): the default for
the release's datasets, so paper reproduction is one name away. `small_data`: the default for
your own folders and CSVs, where the release's recipe takes too few optimizer steps to learn
(docs/real_audio.md compares them on real recordings).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import warnings

import keras
from absl import logging

from keras_airn.errors import check_choice, check_count, check_range
from keras_airn.training.optimizer import TorchSGD
from keras_airn.training.spec_augment import SpecAugmentConfig
from keras_airn.training.wave_augment import WaveAugment

# The release decays every parameter but those named "bn" (BatchNorm's; the head's bias is
# decayed). AdamW (small_data) leaves biases out too, as is usual for it.
SGD_NO_DECAY = ("gamma", "beta")
ADAMW_NO_DECAY = ("gamma", "beta", "bias")
# The smallest batch `min_steps_per_epoch` makes: BatchNorm's batch statistics need a few examples.
SMALLEST_BATCH = 8


@dataclasses.dataclass
class TrainConfig:
    """Hyper-parameters of one run (defaults: the release's VGG-Sound pre-training recipe).

    Args:
        epochs: epochs to run; None: as many as `min_steps` optimizer steps need.
        batch_size: examples per optimizer step (capped at the training set's size).
        min_steps_per_epoch: a training set too small for this many batches an epoch gets smaller
            batches: a multiple of 4, at least `SMALLEST_BATCH` (0: `batch_size` as it is; a
            batch size given to `fit_config` or on the command line turns it off).
        learning_rate: peak learning rate.
        lr_steps: epochs at which a "step" schedule multiplies the LR by `lr_decay`.
        lr_decay: the step schedule's factor.
        momentum: SGD momentum (`torch_sgd`).
        nesterov: Nesterov momentum (`torch_sgd`; every config of the release sets it).
        weight_decay: coupled L2 (`torch_sgd`, not on BatchNorm) or decoupled decay (`adamw`, not
            on BatchNorm or biases).
        seed: seed of shuffling, crops, SpecAugment and initialisation.
        spec_augment: SpecAugment on training batches.
        spec_augment_style: "release" (sampled as the release does, its value-as-coordinate time
            warp included) or "clean" (as the SpecAugment paper describes it); see
            `keras_airn.training.spec_augment`.
        time_mask_share: SpecAugment's time masks at most this share of the crop's frames, and
            never wider than its fixed width (25 frames); 0: the fixed width, as the release.
        wave: random gain, speed, equaliser, noise, DC offset and frequency warp of each training
            crop (`WaveAugment`; all off by default).
        precise_bn_batches: augmented training batches of each BatchNorm re-estimation (at most
            one pass over the training set; 0: off).
        precise_bn_each_epoch: re-estimate after every epoch, as the release does (its configs
            checkpoint every epoch); False: once, after the last. "mirrored" runs re-estimate
            once, after the last.
        select_best: evaluate (and save) the epoch with the best validation top-1 instead of the
            last, as the release does (`keras_airn.training.selection`); needs test data.
        eval_period: with `select_best`, validate after every this many epochs and the last (the
            release's `TRAIN.EVAL_PERIOD`: 2).
        eval_views: crops per test clip (None: the front-end's).
        eval_batch_size: crops per evaluation batch.
        optimizer: "torch_sgd" (the release's) or "adamw".
        schedule: "step" (`lr_steps`) or "cosine" (to zero at the last step).
        warmup_fraction: share of the steps over which the LR rises linearly from 0 ("cosine").
        min_steps: optimizer steps an `epochs=None` run takes at least...
        max_epochs: ...but at most this many epochs (None: no cap): on a small folder 600 steps
            would be hundreds of passes over the same clips.
        checkpoint_minutes: write the epoch's checkpoint only when this long has passed since the
            last one (and always after a run's last epoch); 0: after every epoch. Many short
            epochs (small folders) would otherwise spend a large share of their time saving.

    Example:
    >>> TrainConfig(epochs=None, min_steps=100).resolved(train_size=320).epochs  # 10 steps an epoch
    10
    """

    epochs: int | None = 50
    batch_size: int = 32
    min_steps_per_epoch: int = 0
    learning_rate: float = 0.01
    lr_steps: tuple[int, ...] = (30, 40)
    lr_decay: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 1e-4
    seed: int = 0
    spec_augment: bool = True
    spec_augment_style: str = "release"
    time_mask_share: float = 0.0
    wave: WaveAugment = WaveAugment()
    precise_bn_batches: int = 200
    precise_bn_each_epoch: bool = True
    select_best: bool = False
    eval_period: int = 2
    eval_views: int | None = None
    eval_batch_size: int = 32
    optimizer: str = "torch_sgd"
    schedule: str = "step"
    warmup_fraction: float = 0.0
    min_steps: int = 0
    max_epochs: int | None = None
    checkpoint_minutes: float = 0.0

    def __post_init__(self):
        self.lr_steps = tuple(int(step) for step in self.lr_steps)
        check_choice("optimizer", self.optimizer, sorted(OPTIMIZERS))
        check_choice("schedule", self.schedule, ("step", "cosine"))
        check_range("time_mask_share", self.time_mask_share, 0, 1, include_high=True)
        SpecAugmentConfig(style=self.spec_augment_style)

    def wave_augment(self) -> WaveAugment:
        """`wave` (deprecated: read `config.wave`)."""
        warnings.warn("TrainConfig.wave_augment() is deprecated: read TrainConfig.wave.", DeprecationWarning,
                      stacklevel=2)
        return self.wave

    def record(self) -> dict:
        """The recipe as a run's `run.json` records it: every field by name, `wave`'s under the
        names they had before it was nested (`FLAT_WAVE_FIELDS`), where they stood."""
        record = {}
        for name, value in dataclasses.asdict(self).items():
            if name == "wave":
                record.update({flat: value[field] for flat, field in FLAT_WAVE_FIELDS.items()})
            else:
                record[name] = value
        return record

    def spec_augment_config(self, num_frames: int) -> SpecAugmentConfig:
        """SpecAugment for crops of `num_frames` frames.

        Example:
        >>> SMALL_DATA.spec_augment_config(70).time_mask_width  # a tenth of a 0.7 s crop
        7
        """
        config = SpecAugmentConfig(style=self.spec_augment_style)
        if self.time_mask_share > 0:
            width = max(1, min(config.time_mask_width, round(self.time_mask_share * num_frames)))
            config = dataclasses.replace(config, time_mask_width=width)
        return config

    def augmentation(self, num_frames: int) -> dict:
        """`pipeline.train_dataset`'s `augment` and `wave_augment` arguments for this config and
        crops of `num_frames` frames."""
        return {"augment": self.spec_augment_config(num_frames) if self.spec_augment else None,
                "wave_augment": self.wave if self.wave.active else None}

    def resolved(self, train_size: int) -> "TrainConfig":
        """This config for a training set of `train_size` examples: the batch made smaller for
        `min_steps_per_epoch`, capped at the set's size (with a warning), and `epochs=None`
        turned into the epochs `min_steps` needs, at most `max_epochs`.

        Example:
        >>> SMALL_DATA.resolved(train_size=160).batch_size  # 10 steps an epoch
        16
        """
        batch_size = self.batch_size
        if self.min_steps_per_epoch and train_size // batch_size < self.min_steps_per_epoch:
            batch_size = min(batch_size, max(SMALLEST_BATCH, train_size // self.min_steps_per_epoch // 4 * 4))
        if 0 < train_size < batch_size:
            logging.warning("The batch of %d is larger than the %d training examples: using batches of %d.",
                            batch_size, train_size, train_size)
            batch_size = train_size
        epochs = self.epochs
        if epochs is None:
            steps_per_epoch = max(1, train_size // batch_size)
            epochs = max(1, math.ceil(self.min_steps / steps_per_epoch))
            if self.max_epochs:
                epochs = min(epochs, self.max_epochs)
        return dataclasses.replace(self, batch_size=batch_size, epochs=epochs)


# `TrainConfig`'s fields before `wave` held them: {old name: `WaveAugment` field}. The old
# keyword arguments and attributes still work, with a DeprecationWarning.
FLAT_WAVE_FIELDS = {"gain_db": "gain_db", "speed_perturbation": "speed", "equalizer_db": "equalizer_db",
                    "noise_snr_db": "noise_snr_db", "dc_offset": "dc_offset", "freq_warp": "freq_warp"}


def _warn_flat(name: str) -> None:
    warnings.warn(f"TrainConfig.{name} is deprecated: use TrainConfig.wave.{FLAT_WAVE_FIELDS[name]} "
                  f"(TrainConfig(wave=WaveAugment(...))).", DeprecationWarning, stacklevel=3)


def _flat_wave_property(name: str) -> property:
    def get(self):
        _warn_flat(name)
        return getattr(self.wave, FLAT_WAVE_FIELDS[name])

    def set_(self, value):
        _warn_flat(name)
        self.wave = dataclasses.replace(self.wave, **{FLAT_WAVE_FIELDS[name]: value})

    return property(get, set_)


def _accept_flat_wave_arguments(init):
    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        flat = {name: kwargs.pop(name) for name in list(kwargs) if name in FLAT_WAVE_FIELDS}
        for name in flat:
            _warn_flat(name)
        if flat:
            kwargs["wave"] = dataclasses.replace(kwargs.get("wave", WaveAugment()), **{FLAT_WAVE_FIELDS[k]: v for k, v in flat.items()})
        init(self, *args, **kwargs)

    return __init__


TrainConfig.__init__ = _accept_flat_wave_arguments(TrainConfig.__init__)
for _name in FLAT_WAVE_FIELDS:
    setattr(TrainConfig, _name, _flat_wave_property(_name))


@keras.saving.register_keras_serializable(package="keras_airn")
class AdamW(keras.optimizers.AdamW):
    """`keras.optimizers.AdamW` whose exclusions from weight decay survive saving and loading.

    Args:
        no_decay: substrings of the names of variables that get no weight decay.
        **kwargs: `keras.optimizers.AdamW` arguments.
    """

    def __init__(self, no_decay=(), **kwargs):
        super().__init__(**kwargs)
        self.no_decay = tuple(no_decay)
        if self.no_decay:
            self.exclude_from_weight_decay(var_names=list(self.no_decay))

    def get_config(self):
        return {**super().get_config(), "no_decay": list(self.no_decay)}


def _sgd(config: TrainConfig, schedule) -> keras.optimizers.Optimizer:
    return TorchSGD(schedule, momentum=config.momentum, nesterov=config.nesterov, weight_decay=config.weight_decay,
                    no_decay=SGD_NO_DECAY)


def _adamw(config: TrainConfig, schedule) -> keras.optimizers.Optimizer:
    return AdamW(learning_rate=schedule, weight_decay=config.weight_decay, no_decay=ADAMW_NO_DECAY)


OPTIMIZERS = {"torch_sgd": _sgd, "adamw": _adamw}


def learning_rate_schedule(config: TrainConfig, steps_per_epoch: int):
    """The LR per optimizer step of a resolved `config`.

    "step": the LR multiplied by `lr_decay` at each of `lr_steps` (epochs). PiecewiseConstantDecay
    keeps the old value at a boundary step itself: the last step of epoch `s` is step
    s * steps_per_epoch - 1 (counting from 0). "cosine": a linear warm-up over
    `warmup_fraction` of the steps, then a half cosine to zero at the last step.
    """
    if config.schedule == "step":
        if not config.lr_steps:  # a constant LR (PiecewiseConstantDecay needs a boundary)
            return config.learning_rate
        boundaries = [step * steps_per_epoch - 1 for step in config.lr_steps]
        values = [config.learning_rate * config.lr_decay**i for i in range(len(boundaries) + 1)]
        return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)
    total = config.epochs * steps_per_epoch
    warmup = int(round(config.warmup_fraction * total))
    return keras.optimizers.schedules.CosineDecay(
        0.0 if warmup else config.learning_rate, max(1, total - warmup),
        warmup_target=config.learning_rate if warmup else None, warmup_steps=warmup)


def make_optimizer(config: TrainConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """The optimizer a resolved `config` names, with its learning-rate schedule.

    `torch_sgd` is the release's `torch.optim.SGD` (Nesterov momentum, coupled L2 on every
    parameter but BatchNorm's).
    """
    return OPTIMIZERS[config.optimizer](config, learning_rate_schedule(config, steps_per_epoch))


RELEASE_PRETRAINING = TrainConfig()
RELEASE_FINETUNING = TrainConfig(epochs=30, learning_rate=0.001, lr_steps=(20, 25))
SMALL_DATA = TrainConfig(
    epochs=None, min_steps=600, max_epochs=60, batch_size=32, min_steps_per_epoch=10, optimizer="adamw",
    learning_rate=2e-3, weight_decay=0.05, spec_augment_style="clean", time_mask_share=0.1,
    wave=WaveAugment(gain_db=6.0, speed=0.2, equalizer_db=12.0),
    schedule="cosine", warmup_fraction=0.05, lr_steps=(), precise_bn_batches=200, precise_bn_each_epoch=False,
    checkpoint_minutes=1.0)
RECIPES = ("release", "small_data")


def recipe(name: str, finetuning: bool) -> TrainConfig:
    """The named recipe: "release" (its fine-tuning form after a new head on a pre-trained
    network) or "small_data".

    Example:
    >>> recipe("release", finetuning=True).learning_rate
    0.001
    """
    if name == "release":
        return RELEASE_FINETUNING if finetuning else RELEASE_PRETRAINING
    check_choice("recipe", name, RECIPES)
    return SMALL_DATA


# Keras `fit` arguments with no meaning in `AudioClassifier.fit` (the recipe shuffles, weighs and splits).
KERAS_FIT_ONLY = {"validation_split", "shuffle", "class_weight", "sample_weight", "initial_epoch",
                  "steps_per_epoch", "validation_steps", "validation_batch_size"}


def fit_config(name: str | TrainConfig, finetuning: bool, **overrides) -> TrainConfig:
    """The recipe `AudioClassifier.fit` trains with: `recipe(name, finetuning)` (or `name`
    itself, a `TrainConfig`) with the `overrides` that are not None; refuses Keras `fit`
    arguments that have no meaning here.

    Example:
    >>> fit_config("small_data", False, epochs=3, batch_size=None).epochs
    3
    """
    check_count("batch_size", overrides.get("batch_size"))
    unsupported = sorted(set(overrides) & KERAS_FIT_ONLY)
    if unsupported:
        raise TypeError(f"AudioClassifier.fit does not take {unsupported}: split data with "
                        f"keras_airn.read_folder(test_fraction=...) and pass validation_data.")
    base = name if isinstance(name, TrainConfig) else recipe(name, finetuning)
    return overridden(base, **{k: v for k, v in overrides.items() if v is not None})


def overridden(config: TrainConfig, **fields) -> TrainConfig:
    """`config` with `fields` replaced; a `batch_size` among them is kept as given (it turns
    `min_steps_per_epoch` off unless that is given too).

    Example:
    >>> overridden(SMALL_DATA, batch_size=32).resolved(train_size=160).batch_size
    32
    """
    if fields.get("batch_size") is not None:
        fields.setdefault("min_steps_per_epoch", 0)
    return dataclasses.replace(config, **fields)
