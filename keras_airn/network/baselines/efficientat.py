"""EfficientAT mn10 (Schmid et al., "Efficient Large-Scale Audio Tagging via Transformer-to-CNN
Knowledge Distillation", 2023): MobileNetV3-Large at width 1.0 for audio, 4.88 M parameters and
0.54 GMACs for 10 s (1000 frames x 128 mel bins, 527 AudioSet classes), 47.1 mAP.

Source: fschmid56/EfficientAT, `models/mn/model.py` with `get_model(width_mult=1.0)`: the
MobileNetV3-Large block table (15 inverted residuals; 3 x 3 / 5 x 5 depthwise; ReLU then
hard-swish; channel squeeze-and-excitation with a ReLU bottleneck of C/4 rounded to 8 and a hard
sigmoid), a 3 x 3 stride-2 hard-swish stem, a 1 x 1 conv to 960, and the "mlp" head (global
average pool, 960 -> 1280 hard-swish, dropout 0.2, linear). BatchNorm eps 1e-3.

Differences: the original takes (batch, 1, F, T); here (batch, T, F, 1), kernels transposed (all
are square, so nothing changes but the order of the axes).
"""

from __future__ import annotations

import keras

from keras_airn.network.baselines.blocks import activation, check_size, conv_bn, log_mel_input
from keras_airn.network.model import VGGSOUND_CLASSES

BN_EPSILON = 1e-3
# input, kernel, expanded, output, squeeze-excitation, activation, stride (MobileNetV3-Large).
BLOCKS = (
    (16, 3, 16, 16, False, "relu", 1), (16, 3, 64, 24, False, "relu", 2), (24, 3, 72, 24, False, "relu", 1),
    (24, 5, 72, 40, True, "relu", 2), (40, 5, 120, 40, True, "relu", 1), (40, 5, 120, 40, True, "relu", 1),
    (40, 3, 240, 80, False, "hard_swish", 2), (80, 3, 200, 80, False, "hard_swish", 1),
    (80, 3, 184, 80, False, "hard_swish", 1), (80, 3, 184, 80, False, "hard_swish", 1),
    (80, 3, 480, 112, True, "hard_swish", 1), (112, 3, 672, 112, True, "hard_swish", 1),
    (112, 5, 672, 160, True, "hard_swish", 2), (160, 5, 960, 160, True, "hard_swish", 1),
    (160, 5, 960, 160, True, "hard_swish", 1),
)
LAST_CHANNEL = 1280


def divisible_by_8(value: float) -> int:
    """MobileNet's channel rounding: nearest multiple of 8, never below 90 % of `value`."""
    rounded = max(8, int(value + 4) // 8 * 8)
    return rounded + 8 if rounded < 0.9 * value else rounded


def squeeze_excitation(x, name: str):
    """Channel attention: mean over time and frequency, C -> C/4 (ReLU) -> C (hard sigmoid), scale."""
    channels = x.shape[-1]
    scale = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_pool")(x)
    scale = keras.layers.Dense(divisible_by_8(channels // 4), activation="relu", name=f"{name}_fc1")(scale)
    scale = keras.layers.Dense(channels, activation="hard_sigmoid", name=f"{name}_fc2")(scale)
    return keras.layers.Multiply(name=f"{name}_scale")([x, scale])


def inverted_residual(x, config, name: str):
    in_channels, kernel, expanded, out_channels, use_se, act, stride = config
    h = x
    if expanded != in_channels:
        h = conv_bn(h, expanded, 1, f"{name}_expand", act=act, epsilon=BN_EPSILON)
    h = conv_bn(h, expanded, kernel, f"{name}_depthwise", stride=stride, groups=expanded, act=act,
                epsilon=BN_EPSILON)
    if use_se:
        h = squeeze_excitation(h, f"{name}_se")
    h = conv_bn(h, out_channels, 1, f"{name}_project", epsilon=BN_EPSILON)
    if stride == 1 and in_channels == out_channels:
        h = keras.layers.Add(name=f"{name}_add")([x, h])
    return h


INPUT_MULTIPLE = (8, 32)  # (frames, mel bins): the input must be multiples of its total stride


def efficientat_mn10(num_classes: int = VGGSOUND_CLASSES, num_frames: int = 512,
                     num_mel_bins: int = 128) -> keras.Model:
    """EfficientAT mn10 from log-mel (batch, T, F, 1) to logits.

    Args:
        num_classes: output logits (527 for AudioSet).
        num_frames, num_mel_bins: input size (multiples of 32; 1000 x 128 for 10 s in the original).

    Returns:
        A functional Keras model named "efficientat_mn10".
    """
    check_size("efficientat_mn10", num_frames, num_mel_bins, INPUT_MULTIPLE)
    inputs = log_mel_input(num_frames, num_mel_bins)
    x = conv_bn(inputs, BLOCKS[0][0], 3, "stem", stride=2, act="hard_swish", epsilon=BN_EPSILON)
    for index, config in enumerate(BLOCKS):
        x = inverted_residual(x, config, f"block{index}")
    x = conv_bn(x, 6 * BLOCKS[-1][3], 1, "last_conv", act="hard_swish", epsilon=BN_EPSILON)
    x = keras.layers.GlobalAveragePooling2D(name="head_pool")(x)
    x = activation(keras.layers.Dense(LAST_CHANNEL, name="head_fc1")(x), "hard_swish", "head_act")
    x = keras.layers.Dropout(0.2, name="head_dropout")(x)
    outputs = keras.layers.Dense(num_classes, name="head_projection")(x)
    return keras.Model(inputs, outputs, name="efficientat_mn10")
