"""Parameter and multiply-accumulate counts of a model at a given input size."""

from __future__ import annotations

import math
from typing import Sequence

import keras

from keras_airn.network.layers import MultiScaleDepthwiseMixer

BATCHNORM_OPS_PER_ELEMENT = 2
RELEASE_INPUT = (512, 128)


def profile(model: keras.Model, input_shape: Sequence[int] | None = None) -> tuple[int, int]:
    """Counts trainable parameters and MACs of one example.

    MACs follow the counter behind the release's figures (thop): convolutions and linear layers
    by their multiply-accumulates, each inference BatchNorm (and LayerNorm) as 2 operations per
    element (scale and shift); biases, adds, activations and pooling count nothing. With this
    rule B1 (309 classes, 512 x 128) gives the release's 2.625 G (train) and 2.553 G (deploy).

    Args:
        model: an `AudioRepInceptionNeXt` in any form, or any functional Keras model built from
            stock layers (the baselines of `keras_airn.network.baselines`).
        input_shape: (T, F), (T, F, 1) or (1, T, F, 1). A model whose config holds its input size
            (`num_frames`, `num_mel_bins`: an `AudioRepInceptionNeXt`) is rebuilt at this size
            (default the release's 512 x 128); another model is counted at the size it was built
            for, which `input_shape` must then match.

    Returns:
        (trainable_params, macs).
    """
    built = tuple(model.input_shape[1:3])
    shape = _time_by_frequency(input_shape) if input_shape is not None else None
    if _sized_by_config(model):
        shape = shape or RELEASE_INPUT
        sized = type(model).from_config({**model.get_config(), "num_frames": shape[0], "num_mel_bins": shape[1]})
    else:
        if shape is not None and shape != built:
            raise ValueError(f"{model.name} was built for {built[0]} x {built[1]}; build it at "
                             f"{shape[0]} x {shape[1]} to count it there.")
        sized = model
    macs = sum(layer_macs(layer) for layer in sized.layers)
    params = sum(math.prod(w.shape) for w in model.trainable_weights)
    return int(params), int(macs)


def layer_macs(layer) -> int:
    """Multiply-accumulates of one layer of a built functional model, by the rule of `profile`."""
    if isinstance(layer, MultiScaleDepthwiseMixer):
        _, height, width, channels = layer.output.shape
        convs = [layer.merged] if layer.deploy else layer.branch_convs
        macs = sum(height * width * channels * math.prod(conv.kernel_size) for conv in convs)
        if not layer.deploy:
            macs += len(convs) * BATCHNORM_OPS_PER_ELEMENT * height * width * channels
        return macs
    if isinstance(layer, (keras.layers.BatchNormalization, keras.layers.LayerNormalization)) or getattr(
            layer, "counts_as_batchnorm", False):
        return BATCHNORM_OPS_PER_ELEMENT * math.prod(layer.output.shape[1:])
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return math.prod(layer.output.shape[1:]) * math.prod(layer.kernel_size)
    if isinstance(layer, keras.layers.Conv2D):
        in_channels = layer.input.shape[-1]
        return math.prod(layer.output.shape[1:]) * in_channels // layer.groups * math.prod(layer.kernel_size)
    if isinstance(layer, keras.layers.Dense):
        return math.prod(layer.input.shape[1:]) * layer.units
    return 0


def _sized_by_config(model) -> bool:
    """Whether `model` is rebuilt from its own config at another input size (a subclassed network
    whose config names `num_frames` and `num_mel_bins`; a functional model's config lists layers)."""
    try:
        config = model.get_config()
    except NotImplementedError:
        return False
    return isinstance(config, dict) and {"num_frames", "num_mel_bins"} <= set(config)


def _time_by_frequency(input_shape: Sequence[int]) -> tuple[int, int]:
    shape = [int(d) for d in input_shape if d is not None]
    if len(shape) == 4:
        shape = shape[1:]
    if len(shape) == 3:
        shape = shape[:2]
    if len(shape) != 2:
        raise ValueError(f"input_shape must give (T, F); got {tuple(input_shape)}.")
    return tuple(shape)
