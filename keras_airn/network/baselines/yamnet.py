"""YAMNet (Plakal and Ellis, 2019): MobileNet v1 on 0.96 s log-mel patches (96 frames x 64 mel
bins), 521 AudioSet classes, 3.7 M parameters, 69 M multiply-adds per patch.

Source: tensorflow/models research/audioset/yamnet (`yamnet.py`, `_YAMNET_LAYER_DEFS`): a 3 x 3
stride-2 conv to 32 channels, then 13 depthwise-separable layers (3 x 3 depthwise + 1 x 1; widths
64, 128, 128, 256, 256, 512 x 6, 1024, 1024; stride 2 at 128, 256, 512 and the first 1024), each
conv followed by BatchNorm (no scale, eps 1e-4) and ReLU; global average pool; linear logits.
YAMNet is a TensorFlow model, so its TensorFlow "same" padding is kept.

Differences: the original frames a waveform into patches inside the model; here the input is one
log-mel patch (or any T x F the caller asks for), like every other baseline; the logits layer is
named `head_projection` like every other classifier here.
"""

from __future__ import annotations

import keras

from keras_airn.network.baselines.blocks import check_size, log_mel_input
from keras_airn.network.model import VGGSOUND_CLASSES

BN_EPSILON = 1e-4
# (depthwise-separable?, stride, filters) after the first conv.
LAYERS = ((1, 64), (2, 128), (1, 128), (2, 256), (1, 256), (2, 512), (1, 512), (1, 512), (1, 512), (1, 512),
          (1, 512), (2, 1024), (1, 1024))


def _bn_relu(x, name: str):
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, scale=False, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


INPUT_MULTIPLE = (32, 32)  # (frames, mel bins): the input must be multiples of its total stride


def yamnet(num_classes: int = VGGSOUND_CLASSES, num_frames: int = 512, num_mel_bins: int = 128) -> keras.Model:
    """YAMNet from log-mel (batch, T, F, 1) to logits.

    Args:
        num_classes: output logits (521 for AudioSet).
        num_frames, num_mel_bins: input size (multiples of 32; 96 x 64 in the original).

    Returns:
        A functional Keras model named "yamnet".
    """
    check_size("yamnet", num_frames, num_mel_bins, INPUT_MULTIPLE)
    inputs = log_mel_input(num_frames, num_mel_bins)
    x = keras.layers.Conv2D(32, 3, strides=2, padding="same", use_bias=False, name="layer1_conv")(inputs)
    x = _bn_relu(x, "layer1_conv")
    for index, (stride, filters) in enumerate(LAYERS, start=2):
        name = f"layer{index}"
        x = keras.layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False,
                                         name=f"{name}_depthwise_conv")(x)
        x = _bn_relu(x, f"{name}_depthwise_conv")
        x = keras.layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_pointwise_conv")(x)
        x = _bn_relu(x, f"{name}_pointwise_conv")
    x = keras.layers.GlobalAveragePooling2D(name="head_pool")(x)
    outputs = keras.layers.Dense(num_classes, name="head_projection")(x)
    return keras.Model(inputs, outputs, name="yamnet")
