"""The two layers the baselines need beyond stock Keras: a channel slice and SubSpectralNorm.

Both are registered and serialisable (`get_config`), so every baseline round-trips through `.keras`.
"""

from __future__ import annotations

import keras
from keras import ops

from keras_airn.network.layers import BN_EPSILON, BN_MOMENTUM


@keras.saving.register_keras_serializable(package="keras_airn")
class ChannelSlice(keras.layers.Layer):
    """Channels `start:stop` of a channels-last tensor (PyTorch's `torch.split` along dim 1).

    Args:
        start, stop: channel range.
    """

    def __init__(self, start: int, stop: int, **kwargs):
        super().__init__(**kwargs)
        self.start, self.stop = int(start), int(stop)

    def call(self, inputs):
        return inputs[..., self.start : self.stop]

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.stop - self.start)

    def get_config(self):
        return {**super().get_config(), "start": self.start, "stop": self.stop}


@keras.saving.register_keras_serializable(package="keras_airn")
class SubSpectralNorm(keras.layers.Layer):
    """BatchNorm with separate statistics per frequency sub-band (Chang et al., 2021).

    Input (batch, T, F, C). With F divisible by `sub_bands` the frequency axis is cut into
    `sub_bands` equal bands and each (channel, band) pair is normalised on its own: C x sub_bands
    statistics and affine parameters, in PyTorch's order (channel-major). Otherwise the whole
    band is normalised with the first C of them, as the later forks of the original do (the
    original asserts); the layer says so through `uses_sub_bands(F)`.

    Args:
        sub_bands: frequency bands, 5 in BC-ResNet.
        epsilon, momentum: BatchNorm's (PyTorch defaults).
    """

    counts_as_batchnorm = True  # keras_airn.network.profile counts it as 2 operations per element

    def __init__(self, sub_bands: int = 5, epsilon: float = BN_EPSILON, momentum: float = BN_MOMENTUM, **kwargs):
        super().__init__(**kwargs)
        self.sub_bands, self.epsilon, self.momentum = int(sub_bands), float(epsilon), float(momentum)

    def build(self, input_shape):
        size = int(input_shape[-1]) * self.sub_bands
        self.gamma = self.add_weight(name="gamma", shape=(size,), initializer="ones")
        self.beta = self.add_weight(name="beta", shape=(size,), initializer="zeros")
        self.moving_mean = self.add_weight(name="moving_mean", shape=(size,), initializer="zeros", trainable=False)
        self.moving_variance = self.add_weight(name="moving_variance", shape=(size,), initializer="ones",
                                               trainable=False)

    def uses_sub_bands(self, num_bins: int) -> bool:
        """Whether `num_bins` frequency bins split into sub-bands (else one band, first C statistics)."""
        return num_bins % self.sub_bands == 0

    def call(self, inputs, training=False):
        _, frames, bins, channels = inputs.shape
        frames = ops.shape(inputs)[1] if frames is None else frames
        x = inputs
        if self.uses_sub_bands(bins):
            band = bins // self.sub_bands
            x = ops.reshape(x, (-1, frames, self.sub_bands, band, channels))
            x = ops.reshape(ops.transpose(x, (0, 1, 3, 4, 2)), (-1, frames, band, channels * self.sub_bands))
        used = x.shape[-1]
        if training:
            mean, variance = ops.moments(x, axes=(0, 1, 2))
            for weight, batch in ((self.moving_mean, mean), (self.moving_variance, variance)):
                updated = weight[:used] * self.momentum + ops.cast(batch, weight.dtype) * (1.0 - self.momentum)
                weight.assign(ops.concatenate([updated, weight[used:]]))
        else:
            mean, variance = self.moving_mean[:used], self.moving_variance[:used]
        x = (x - mean) * ops.rsqrt(variance + self.epsilon) * self.gamma[:used] + self.beta[:used]
        if self.uses_sub_bands(bins):
            x = ops.reshape(x, (-1, frames, bins // self.sub_bands, channels, self.sub_bands))
            x = ops.reshape(ops.transpose(x, (0, 1, 4, 2, 3)), (-1, frames, bins, channels))
        return x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "sub_bands": self.sub_bands, "epsilon": self.epsilon,
                "momentum": self.momentum}
