"""BN-Inception v1: GoogLeNet (Szegedy et al., 2015) with a BatchNorm after every convolution.

Source: torchvision's `googlenet` (BasicConv2d = bias-free conv, BatchNorm eps 1e-3, ReLU; nine
Inception modules; ceil-mode max pools; dropout 0.2 and a linear head; auxiliary heads off, as at
inference). Like torchvision, the "5 x 5" branch of each module uses a 3 x 3 convolution; with
true 5 x 5 kernels the network has 0.38 M more parameters and 6 % more MACs at 512 x 128 (the
arithmetic is in docs/baselines.md). Differences: one input channel; ceil-mode pools are Keras
"same" pools (the same windows: the partial window at the end); a `num_classes` head.
"""

from __future__ import annotations

import keras

from keras_airn.network.baselines.blocks import check_size, classifier, conv_bn, log_mel_input
from keras_airn.network.model import VGGSOUND_CLASSES

BN_EPSILON = 1e-3
# (in, 1x1, 3x3 reduce, 3x3, "5x5" reduce, "5x5", pool projection), torchvision's order.
MODULES = {
    "3a": (64, 96, 128, 16, 32, 32), "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64), "4b": (160, 112, 224, 24, 64, 64), "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64), "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128), "5b": (384, 192, 384, 48, 128, 128),
}
POOL_AFTER = {"3b": 3, "4e": 2}  # max pool size after these modules (stride 2)
WIDE_KERNEL = 3


def basic_conv(x, filters, kernel, name, stride=1):
    return conv_bn(x, filters, kernel, name, stride=stride, act="relu", epsilon=BN_EPSILON)


def inception(x, widths, name):
    """Four parallel branches (1x1; 1x1-3x3; 1x1-"5x5"; 3x3 max pool-1x1), concatenated."""
    ones, reduce3, three, reduce5, five, pool_projection = widths
    branch1 = basic_conv(x, ones, 1, f"{name}_branch1")
    branch2 = basic_conv(basic_conv(x, reduce3, 1, f"{name}_branch2_0"), three, 3, f"{name}_branch2_1")
    branch3 = basic_conv(basic_conv(x, reduce5, 1, f"{name}_branch3_0"), five, WIDE_KERNEL, f"{name}_branch3_1")
    pooled = keras.layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_branch4_pool")(x)
    branch4 = basic_conv(pooled, pool_projection, 1, f"{name}_branch4_1")
    return keras.layers.Concatenate(name=f"{name}_concat")([branch1, branch2, branch3, branch4])


INPUT_MULTIPLE = (32, 32)  # (frames, mel bins): the input must be multiples of its total stride


def bn_inception_v1(num_classes: int = VGGSOUND_CLASSES, num_frames: int = 512, num_mel_bins: int = 128) -> keras.Model:
    """BN-Inception v1 from log-mel (batch, T, F, 1) to logits.

    Args:
        num_classes: output logits.
        num_frames, num_mel_bins: input size (multiples of 32).

    Returns:
        A functional Keras model named "bn_inception_v1".
    """
    check_size("bn_inception_v1", num_frames, num_mel_bins, INPUT_MULTIPLE)
    inputs = log_mel_input(num_frames, num_mel_bins)
    x = basic_conv(inputs, 64, 7, "conv1", stride=2)
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="maxpool1")(x)
    x = basic_conv(x, 64, 1, "conv2")
    x = basic_conv(x, 192, 3, "conv3")
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="maxpool2")(x)
    for name, widths in MODULES.items():
        x = inception(x, widths, f"inception{name}")
        if name in POOL_AFTER:
            x = keras.layers.MaxPooling2D(POOL_AFTER[name], strides=2, padding="same", name=f"maxpool_{name}")(x)
    return keras.Model(inputs, classifier(x, num_classes, dropout=0.2), name="bn_inception_v1")
