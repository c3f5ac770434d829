"""ResNet-50 (He et al., 2016) on a one-channel log-mel, as the paper's Table V counts it.

Source: torchvision's `resnet50` (the "v1.5" layout: the stride of a downsampling bottleneck sits
on its 3 x 3 convolution, not on the first 1 x 1 as in the original paper and in
`keras.applications.ResNet50`, whose convolutions also carry biases; neither would give the
paper's 5.26 GMACs). Differences from torchvision: one input channel (the log-mel) instead of
three, and a `num_classes` linear head.
"""

from __future__ import annotations

import keras

from keras_airn.network.baselines.blocks import check_size, classifier, conv_bn, log_mel_input, max_pool
from keras_airn.network.model import VGGSOUND_CLASSES

DEPTHS = (3, 4, 6, 3)
WIDTHS = (64, 128, 256, 512)
EXPANSION = 4


def bottleneck(x, width: int, stride: int, name: str):
    """1x1 reduce, 3x3 (strided), 1x1 expand, plus the (projected) shortcut, then ReLU."""
    out_channels = width * EXPANSION
    shortcut = x
    if stride != 1 or x.shape[-1] != out_channels:
        shortcut = conv_bn(x, out_channels, 1, f"{name}_downsample", stride=stride)
    h = conv_bn(x, width, 1, f"{name}_conv1", act="relu")
    h = conv_bn(h, width, 3, f"{name}_conv2", stride=stride, act="relu")
    h = conv_bn(h, out_channels, 1, f"{name}_conv3")
    x = keras.layers.Add(name=f"{name}_add")([shortcut, h])
    return keras.layers.ReLU(name=f"{name}_relu")(x)


INPUT_MULTIPLE = (32, 32)  # (frames, mel bins): the input must be multiples of its total stride


def resnet50(num_classes: int = VGGSOUND_CLASSES, num_frames: int = 512, num_mel_bins: int = 128) -> keras.Model:
    """ResNet-50 from log-mel (batch, T, F, 1) to logits.

    Args:
        num_classes: output logits.
        num_frames, num_mel_bins: input size (multiples of 32).

    Returns:
        A functional Keras model named "resnet50".
    """
    check_size("resnet50", num_frames, num_mel_bins, INPUT_MULTIPLE)
    inputs = log_mel_input(num_frames, num_mel_bins)
    x = conv_bn(inputs, 64, 7, "stem_conv", stride=2, act="relu")
    x = max_pool(x, 3, 2, 1, "stem_pool")
    for stage, (depth, width) in enumerate(zip(DEPTHS, WIDTHS), start=1):
        for index in range(depth):
            stride = 2 if index == 0 and stage > 1 else 1
            x = bottleneck(x, width, stride, f"layer{stage}_{index}")
    return keras.Model(inputs, classifier(x, num_classes), name="resnet50")
