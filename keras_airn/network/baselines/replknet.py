"""RepLKNet-31T (Ding et al., "Scaling Up Your Kernels to 31x31", 2022) at the paper's Table V
widths (64, 128, 320, 512), in its train form.

Source: DingXiaoH/RepLKNet-pytorch (`RepLKNet`, as `create_RepLKNet31B` with the widths halved):
a stem of four conv-BN-ReLU (3 x 3 stride 2, 3 x 3 depthwise, 1 x 1, 3 x 3 depthwise stride 2);
four stages of (2, 2, 18, 2) blocks with depthwise kernels 31, 29, 27, 13; each block is a
RepLK block (BatchNorm, 1 x 1 conv-BN-ReLU, a large depthwise conv-BN plus a parallel 5 x 5
depthwise conv-BN, ReLU, 1 x 1 conv-BN, residual) and a ConvFFN (BatchNorm, 1 x 1 conv-BN to 4x,
GELU, 1 x 1 conv-BN, residual); stage transitions of a 1 x 1 conv-BN-ReLU and a 3 x 3 depthwise
conv-BN-ReLU of stride 2; a final BatchNorm, global average pool and linear head.

Differences: one input channel; the train form with both kernels (the re-parameterised form
merges the 5 x 5 into the large kernel, as AudioRepInceptionNeXt's mixers do); GELU in its tanh
form (`blocks.gelu_tanh`); no drop-path (inference); a `num_classes` head.
"""

from __future__ import annotations

import keras

from keras_airn.network.baselines.blocks import activation, batchnorm, check_size, classifier, conv_bn, log_mel_input
from keras_airn.network.model import VGGSOUND_CLASSES

WIDTHS = (64, 128, 320, 512)
DEPTHS = (2, 2, 18, 2)
LARGE_KERNELS = (31, 29, 27, 13)
SMALL_KERNEL = 5
FFN_RATIO = 4


def replk_block(x, kernel: int, name: str):
    """Pre-BN, 1x1 conv-BN-ReLU, large + small depthwise conv-BN summed, ReLU, 1x1 conv-BN, residual."""
    channels = x.shape[-1]
    h = batchnorm(x, f"{name}_prelkb_bn")
    h = conv_bn(h, channels, 1, f"{name}_pw1", act="relu")
    large = conv_bn(h, channels, kernel, f"{name}_large_kernel_lkb_origin", groups=channels)
    small = conv_bn(h, channels, SMALL_KERNEL, f"{name}_large_kernel_small_conv", groups=channels)
    h = activation(keras.layers.Add(name=f"{name}_large_kernel_add")([large, small]), "relu", f"{name}_lk_relu")
    h = conv_bn(h, channels, 1, f"{name}_pw2")
    return keras.layers.Add(name=f"{name}_add")([x, h])


def conv_ffn(x, name: str):
    """Pre-BN, 1x1 conv-BN to 4x, GELU, 1x1 conv-BN back, residual."""
    channels = x.shape[-1]
    h = batchnorm(x, f"{name}_preffn_bn")
    h = conv_bn(h, channels * FFN_RATIO, 1, f"{name}_pw1", act="gelu")
    h = conv_bn(h, channels, 1, f"{name}_pw2")
    return keras.layers.Add(name=f"{name}_add")([x, h])


INPUT_MULTIPLE = (32, 32)  # (frames, mel bins): the input must be multiples of its total stride


def replknet31t(num_classes: int = VGGSOUND_CLASSES, num_frames: int = 512, num_mel_bins: int = 128) -> keras.Model:
    """RepLKNet-31T (train form) from log-mel (batch, T, F, 1) to logits.

    Args:
        num_classes: output logits.
        num_frames, num_mel_bins: input size (multiples of 32).

    Returns:
        A functional Keras model named "replknet31t".
    """
    check_size("replknet31t", num_frames, num_mel_bins, INPUT_MULTIPLE)
    inputs = log_mel_input(num_frames, num_mel_bins)
    width = WIDTHS[0]
    x = conv_bn(inputs, width, 3, "stem_0", stride=2, act="relu")
    x = conv_bn(x, width, 3, "stem_1", groups=width, act="relu")
    x = conv_bn(x, width, 1, "stem_2", act="relu")
    x = conv_bn(x, width, 3, "stem_3", stride=2, groups=width, act="relu")
    for stage, (width, depth, kernel) in enumerate(zip(WIDTHS, DEPTHS, LARGE_KERNELS)):
        if stage:
            x = conv_bn(x, width, 1, f"transition{stage}_0", act="relu")
            x = conv_bn(x, width, 3, f"transition{stage}_1", stride=2, groups=width, act="relu")
        for index in range(depth):
            x = replk_block(x, kernel, f"stage{stage}_{index}_lk")
            x = conv_ffn(x, f"stage{stage}_{index}_ffn")
    x = batchnorm(x, "norm")
    return keras.Model(inputs, classifier(x, num_classes), name="replknet31t")
