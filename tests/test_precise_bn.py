"""Precise BN: the moving statistics become the exact average of the batches' statistics."""

import keras
import numpy as np
import tensorflow as tf

from keras_airn.training.precise_bn import recompute_batchnorm_statistics


def test_statistics_are_the_average_over_batches_and_frozen_ones_stay():
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
    batches = [rng.normal(2.0, 3.0, (6, 5)).astype(np.float32) for _ in range(4)]
    dataset = tf.data.Dataset.from_tensor_slices((np.concatenate(batches), np.zeros(24))).batch(6)

    kernel = model.layers[2].kernel.numpy()
    expected = {"first": [], "second": []}
    for x in batches:  # training mode: each BatchNorm normalises with its batch's (biased) moments
        m1, v1 = x.mean(0), x.var(0)
        expected["first"].append((m1, v1))
        h = ((x - m1) / np.sqrt(v1 + 1e-3) * first.gamma.numpy() + first.beta.numpy()) @ kernel
        expected["second"].append((h.mean(0), h.var(0)))
    assert recompute_batchnorm_statistics(model, dataset, num_batches=10) == 4  # one pass: 4 batches
    for name, bn in (("first", first), ("second", second)):
        means, variances = zip(*expected[name])
        np.testing.assert_allclose(bn.moving_mean.numpy(), np.mean(means, 0), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(bn.moving_variance.numpy(), np.mean(variances, 0), rtol=1e-4, atol=1e-5)
        assert bn.momentum == 0.9
    np.testing.assert_array_equal(frozen.moving_mean.numpy(), frozen_before)
