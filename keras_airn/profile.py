"""Parameter and multiply-accumulate counts of a model at a given input size."""

from __future__ import annotations

import math
from typing import Sequence

import keras

from keras_airn.layers import MultiScaleDepthwiseMixer
from keras_airn.model import AudioRepInceptionNeXt


BATCHNORM_OPS_PER_ELEMENT = 2


def profile(model: AudioRepInceptionNeXt, input_shape: Sequence[int] = (512, 128)) -> tuple[int, int]:
    """Counts trainable parameters and MACs of one example.

    MACs follow the counter behind the release's figures (thop): convolutions and the classifier
    by their multiply-accumulates, each inference BatchNorm as 2 operations per element (scale
    and shift); biases, adds, ReLU and pooling count nothing. With this rule B1 (309 classes,
    512 x 128) gives the release's 2.625 G (train) and 2.553 G (deploy).

    Args:
        model: an `AudioRepInceptionNeXt` in any form.
        input_shape: (T, F), (T, F, 1) or (1, T, F, 1).

    Returns:
        (trainable_params, macs).
    """
    shape = [int(d) for d in input_shape if d is not None]
    if len(shape) == 4:
        shape = shape[1:]
    if len(shape) == 3:
        shape = shape[:2]
    if len(shape) != 2:
        raise ValueError(f"input_shape must give (T, F); got {tuple(input_shape)}.")
    config = {**model.get_config(), "num_frames": shape[0], "num_mel_bins": shape[1]}
    sized = AudioRepInceptionNeXt.from_config(config)

    macs = 0
    for layer in sized.layers:
        if isinstance(layer, MultiScaleDepthwiseMixer):
            _, height, width, channels = layer.output.shape
            convs = [layer.merged] if layer.deploy else layer.branch_convs
            for conv in convs:
                macs += height * width * channels * math.prod(conv.kernel_size)
            if not layer.deploy:
                macs += len(convs) * BATCHNORM_OPS_PER_ELEMENT * height * width * channels
        elif isinstance(layer, keras.layers.BatchNormalization):
            macs += BATCHNORM_OPS_PER_ELEMENT * math.prod(layer.output.shape[1:])
        elif isinstance(layer, keras.layers.Conv2D):
            _, height, width, filters = layer.output.shape
            in_channels = layer.input.shape[-1]
            macs += height * width * filters * in_channels * math.prod(layer.kernel_size)
        elif isinstance(layer, keras.layers.Dense):
            macs += layer.input.shape[-1] * layer.units
    params = sum(math.prod(w.shape) for w in model.trainable_weights)
    return int(params), int(macs)
