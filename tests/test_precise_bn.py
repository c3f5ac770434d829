"""Precise BN: the moving statistics become fvcore's population estimate over the batches."""

import keras
import numpy as np
import tensorflow as tf

from keras_airn.training.precise_bn import recompute_batchnorm_statistics


def fvcore_population_statistics(batch_statistics, sizes):
    """fvcore 0.1.6's `_PopulationVarianceEstimator.update`, step by step, on each batch's
    (mean, unbiased variance) as PyTorch's BatchNorm leaves them at momentum 1 (here from the
    biased variance Keras keeps, times n / (n - 1))."""
    pop_mean = pop_square_mean = 0.0
    total = 0
    for (mean, biased_variance), n in zip(batch_statistics, sizes):
        running_var = biased_variance * n / (n - 1)  # PyTorch's running_var: Bessel-corrected
        total += n
        batch_square_mean = mean**2 + running_var * ((n - 1) / n)
        pop_mean = pop_mean + (mean - pop_mean) * (n / total)
        pop_square_mean = pop_square_mean + (batch_square_mean - pop_square_mean) * (n / total)
    return pop_mean, pop_square_mean - pop_mean**2


def test_statistics_are_the_population_estimate_and_frozen_ones_stay():
    inputs = keras.Input((5,))
    first = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-3)
    second = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-3)
    frozen = keras.layers.BatchNormalization()
    outputs = frozen(second(keras.layers.Dense(4, use_bias=False)(first(inputs))))
    model = keras.Model(inputs, outputs)
    frozen.trainable = False
    rng = np.random.default_rng(0)
    for bn in (first, second, frozen):
        bn.gamma.assign(rng.uniform(0.5, 2, bn.gamma.shape).astype(np.float32))
        bn.beta.assign(rng.normal(size=bn.beta.shape).astype(np.float32))
    frozen_before = frozen.moving_mean.numpy().copy()
    sizes = [6, 6, 6, 3]  # a short last batch weighs half as much
    batches = [rng.normal(2.0, 3.0, (n, 5)).astype(np.float32) for n in sizes]
    dataset = tf.data.Dataset.from_tensor_slices((np.concatenate(batches), np.zeros(21))).batch(6)

    kernel = model.layers[2].kernel.numpy()
    expected = {"first": [], "second": []}
    for x in batches:  # training mode: each BatchNorm normalises with its batch's (biased) moments
        m1, v1 = x.mean(0), x.var(0)
        expected["first"].append((m1, v1))
        h = ((x - m1) / np.sqrt(v1 + 1e-3) * first.gamma.numpy() + first.beta.numpy()) @ kernel
        expected["second"].append((h.mean(0), h.var(0)))
    assert recompute_batchnorm_statistics(model, dataset, num_batches=10) == 4  # one pass: 4 batches
    for name, bn in (("first", first), ("second", second)):
        mean, variance = fvcore_population_statistics(expected[name], sizes)
        np.testing.assert_allclose(bn.moving_mean.numpy(), mean, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(bn.moving_variance.numpy(), variance, rtol=1e-4, atol=1e-5)
        # Not the mean of the batch variances (what was computed before): that differs here.
        assert np.abs(bn.moving_variance.numpy() - np.mean([v for _, v in expected[name]], 0)).max() > 1e-3
        assert bn.momentum == 0.9
    np.testing.assert_array_equal(frozen.moving_mean.numpy(), frozen_before)


def test_the_release_recipe_reestimates_after_every_epoch_on_augmented_batches(tmp_path):
    """Each epoch's checkpoint holds the statistics of that epoch's augmented precise-BN batches:
    re-estimating from them again (weights fixed) changes nothing."""
    import os

    import soundfile

    import keras_airn as ka
    from keras_airn.data.datasets import Example, Split
    from keras_airn.data.features import FrontEnd
    from keras_airn.training import run_state
    from keras_airn.training.trainer import TrainConfig, estimate_precise_bn, fit
    from tests.helpers import TINY
    from train.demo_data import synth_clip

    front_end = FrontEnd(clip_seconds=0.64)
    examples = []
    for i in range(8):
        path = str(tmp_path / f"{i}.wav")
        soundfile.write(path, 0.5 * synth_clip(("tone_low", "tone_high")[i % 2], 1.0, 16000,
                                               np.random.default_rng(i)).astype(np.float32), 16000)
        examples.append(Example(path, i % 2))
    split = Split(examples, ["low", "high"])
    config = TrainConfig(epochs=2, batch_size=4, learning_rate=0.05, lr_steps=(), precise_bn_batches=2)
    assert config.precise_bn_each_epoch  # the release's
    def moving_statistics(model):
        return [w.numpy().copy() for bn in model._flatten_layers() if isinstance(bn, keras.layers.BatchNormalization)
                for w in (bn.moving_mean, bn.moving_variance)]

    def build():
        return ka.create_model("b0", num_classes=2, num_frames=None, dropout=0.0, **TINY)

    for epoch in (1, 2):  # epoch 1 as a partial run, epoch 2 resumed: each epoch's checkpoint is checked
        result = fit(build, split, None, front_end, config, str(tmp_path / "run"), stop_after_epoch=epoch,
                     resume=epoch > 1)
        path = os.path.join(str(tmp_path / "run"), run_state.CHECKPOINTS, f"epoch_{epoch:04d}", run_state.MODEL_FILE)
        model = keras.saving.load_model(path)
        stored = moving_statistics(model)
        assert estimate_precise_bn(model, split, front_end, config, epoch - 1, steps=2, bad_audio=None) == 2
        for a, b in zip(stored, moving_statistics(model)):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        if epoch == 2:  # the final model is the last epoch's, not re-estimated again
            assert result.summary["precise_bn_batches"] == 2
            for a, b in zip(moving_statistics(result.model), stored):
                np.testing.assert_array_equal(a, b)
        # Another epoch's batches (other crops and masks) give other statistics: the check can fail.
        estimate_precise_bn(model, split, front_end, config, epoch % 2, steps=2, bad_audio=None)
        assert max(np.abs(a - b).max() for a, b in zip(stored, moving_statistics(model))) > 1e-4
