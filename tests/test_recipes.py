"""Training recipes: the small-data default learns spoken words from a few clips; its schedule,
batch cap, step count and optimizer state are what they claim."""

import dataclasses
import logging

import keras
import numpy as np
import pytest

import keras_airn as ka
from keras_airn.data.datasets import fitted_clip_seconds, read_folder
from keras_airn.data.features import FrontEnd
from keras_airn.training.recipes import (SMALL_DATA, AdamW, TrainConfig, fit_config, learning_rate_schedule, make_optimizer,
                                        recipe)
from keras_airn.training.trainer import fit
from keras_airn.training.wave_augment import WaveAugment
from tests.helpers import TINY
from train.demo_data import espeak_available, make_word_folder

WORDS = ("yes", "no", "up", "down")


def test_resolved_caps_the_batch_and_counts_epochs_from_steps(caplog):
    with caplog.at_level(logging.WARNING):
        small = SMALL_DATA.resolved(train_size=5)
    assert small.batch_size == 5 and small.epochs == SMALL_DATA.max_epochs  # 600 one-step epochs, capped
    assert "larger than the 5 training examples" in caplog.text
    assert SMALL_DATA.resolved(train_size=2700).epochs == -(-SMALL_DATA.min_steps // (2700 // 32))
    fixed = recipe("release", finetuning=False).resolved(train_size=2700)
    assert (fixed.epochs, fixed.batch_size) == (50, 32)  # the release's recipe is left as it is


def test_cosine_schedule_warms_up_then_decays_to_zero():
    config = dataclasses.replace(SMALL_DATA, epochs=10, warmup_fraction=0.1, learning_rate=0.002)
    schedule = learning_rate_schedule(config, steps_per_epoch=10)  # 100 steps, 10 of warm-up
    lr = np.array([float(schedule(step)) for step in range(101)])
    np.testing.assert_allclose(lr[:11], np.linspace(0, 0.002, 11), rtol=1e-5, atol=1e-9)
    assert np.all(np.diff(lr[10:]) <= 1e-9) and lr[100] < 1e-9
    np.testing.assert_allclose(lr[55], 0.001, rtol=1e-3)  # half-way down the cosine


def test_adamw_keeps_batchnorm_and_biases_undecayed_after_a_round_trip():
    model = ka.create_model("b0", num_classes=3, **TINY)
    optimizer = keras.optimizers.deserialize(keras.optimizers.serialize(
        AdamW(learning_rate=0.01, weight_decay=0.5, no_decay=("gamma", "beta", "bias"))))
    assert isinstance(optimizer, AdamW) and optimizer.no_decay == ("gamma", "beta", "bias")
    before = [v.numpy() for v in model.trainable_variables]
    optimizer.apply([keras.ops.zeros_like(v) for v in model.trainable_variables], model.trainable_variables)
    for variable, old in zip(model.trainable_variables, before):
        decayed = not np.array_equal(variable.numpy(), old)
        assert decayed == (not any(name in variable.name for name in optimizer.no_decay)), variable.path


def test_fitted_clip_length_holds_most_clips_whole(tmp_path):
    import soundfile

    paths = []
    for i, seconds in enumerate([0.3] * 8 + [0.5, 2.0]):  # 90th percentile: 0.65 s -> 0.7 s
        paths.append(str(tmp_path / f"{i}.wav"))
        soundfile.write(paths[-1], np.zeros(int(seconds * 8000), np.float32), 8000)
    examples = [ka.Example(path, 0) for path in paths]
    assert fitted_clip_seconds(examples, 16000, longest=5.119) == 0.7
    assert fitted_clip_seconds(examples, 16000, longest=0.64) == 0.64
    assert FrontEnd(clip_seconds=0.7).num_frames == 70


@pytest.mark.slow
@pytest.mark.skipif(not espeak_available() and not __import__("os").environ.get("CI"),
                    reason="espeak-ng is not installed (scripts/install_system_deps.sh); required under CI")
def test_small_data_recipe_learns_spoken_words_the_release_recipe_does_not(tmp_path):
    folder = make_word_folder(str(tmp_path / "words"), train_per_class=12, test_per_class=8, words=WORDS, seed=3)
    splits = read_folder(folder)
    front_end = FrontEnd(clip_seconds=fitted_clip_seconds(splits["train"].examples, 16000, 5.119))
    top1 = {}
    for name in ("small_data", "release"):
        # Each recipe as it comes for this folder's 48 clips: small_data's 60 epochs of 6 steps of 8
        # against the release's 50 epochs of one step of 32 (one checkpoint, the last; precise BN
        # once, at the end, for both: per epoch it changes no trainable weight).
        config = dataclasses.replace(recipe(name, finetuning=False), precise_bn_batches=2, checkpoint_minutes=60.0,
                                     precise_bn_each_epoch=False)
        summary = fit(lambda: ka.create_model("b0", num_classes=len(WORDS), num_frames=None, **TINY),
                      splits["train"], splits["test"], front_end, config, str(tmp_path / name)).summary
        top1[name] = summary["metrics"]["top1"]
    # Chance is 0.25. The bar leaves room for small_data's waveform augmentation, which slows a run
    # this short (docs/measurements.md, "Gain, speed and equaliser made the default").
    assert top1["small_data"] >= 0.4, top1
    assert top1["small_data"] >= top1["release"] + 0.2, top1


def test_small_data_time_masks_scale_with_the_crop_the_release_keeps_25_frames():
    release = recipe("release", finetuning=False)
    assert [release.spec_augment_config(frames).time_mask_width for frames in (60, 512)] == [25, 25]
    # a tenth of the crop, never wider than the release's 25 frames, never 0
    assert [SMALL_DATA.spec_augment_config(frames).time_mask_width for frames in (4, 60, 70, 256, 512)] == [
        1, 6, 7, 25, 25]
    assert SMALL_DATA.augmentation(70)["augment"].freq_mask_width == release.augmentation(70)["augment"].freq_mask_width
    with pytest.raises(ValueError, match="time_mask_share"):
        dataclasses.replace(SMALL_DATA, time_mask_share=1.5)


def test_no_lr_steps_is_a_constant_learning_rate():
    config = TrainConfig(learning_rate=0.05, lr_steps=(), epochs=3)
    optimizer = make_optimizer(config, steps_per_epoch=4)
    assert float(optimizer.learning_rate) == pytest.approx(0.05)


def test_small_data_takes_600_steps_but_at_most_60_epochs():
    assert SMALL_DATA.resolved(2400).epochs == 8  # 75 steps an epoch: the steps decide
    assert SMALL_DATA.resolved(60).epochs == 60  # 7 steps of the smallest batch an epoch: 86 epochs capped
    assert dataclasses.replace(SMALL_DATA, max_epochs=None).resolved(60).epochs == 86


def test_small_sets_get_smaller_batches_unless_a_batch_size_is_given():
    # {training clips: batch}: at least 10 steps an epoch, a multiple of 4, between 8 and 32
    batches = {size: SMALL_DATA.resolved(size).batch_size for size in (36, 80, 144, 160, 300, 320, 2500)}
    assert batches == {36: 8, 80: 8, 144: 12, 160: 16, 300: 28, 320: 32, 2500: 32}
    assert all(-(-600 // (size // batch)) == SMALL_DATA.resolved(size).epochs for size, batch in batches.items()
               if size >= 80)  # 600 steps from 80 clips up
    assert fit_config(SMALL_DATA, False, batch_size=32).resolved(144).batch_size == 32  # given: kept
    assert fit_config("small_data", False).resolved(144).batch_size == 12
    assert recipe("release", finetuning=False).resolved(144).batch_size == 32  # the release's batch as it is


def test_training_flags_are_named_as_the_fields_they_set():
    from absl import flags as absl_flags

    from train import flags as train_flags

    fields = {field.name for field in dataclasses.fields(TrainConfig)}
    assert set(train_flags._OVERRIDES) <= fields and "learning_rate" in train_flags._OVERRIDES
    # The waveform flags set `wave`'s fields and keep the names a run's recipe records (run.json).
    assert set(train_flags.WAVE_FLAGS) == {field.name for field in dataclasses.fields(WaveAugment)}
    assert {flag.name for flag in train_flags.WAVE_FLAGS.values()} <= set(TrainConfig().record())
    with pytest.warns(DeprecationWarning, match="TrainConfig.wave.speed"):  # the old flat fields still work
        config = TrainConfig(speed_perturbation=0.1)
    with pytest.warns(DeprecationWarning):
        assert config.speed_perturbation == 0.1 == config.wave.speed
    learning_rate = absl_flags.FLAGS["learning_rate"]
    try:
        absl_flags.FLAGS["lr"].parse("0.02")  # the old name still works
        assert learning_rate.value == 0.02
    finally:
        learning_rate.unparse()
