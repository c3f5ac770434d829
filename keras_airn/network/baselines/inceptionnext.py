"""InceptionNeXt-T (Yu et al., "InceptionNeXt: When Inception Meets ConvNeXt", 2024).

Source: sail-sg/inceptionnext and timm's `inceptionnext_tiny`: a 4 x 4 stride-4 conv + BatchNorm
stem; four stages of (3, 3, 9, 3) MetaNeXt blocks at widths (96, 192, 384, 768), each stage after
the first opened by BatchNorm and a 2 x 2 stride-2 conv; a block is an Inception depthwise token
mixer (1/8 of the channels through a 3 x 3, 1/8 through a 1 x 11, 1/8 through an 11 x 1 depthwise
conv, the rest untouched), BatchNorm, a 1 x 1 MLP (ratios 4, 4, 4, 3; GELU), a per-channel layer
scale and a residual.

Differences: one input channel; a global-average-pool + linear head as AudioRepInceptionNeXt's
(timm's MLP head would add 2.3 M parameters; the paper's 24.20 M is the linear head's count,
docs/baselines.md); the layer scale is folded into the MLP's second conv (exact at inference;
6,624 fewer parameters); GELU in its tanh form (`blocks.gelu_tanh`); no drop-path (inference).
"""

from __future__ import annotations

import keras

from keras_airn.network.baselines.blocks import activation, batchnorm, check_size, classifier, conv, log_mel_input
from keras_airn.network.baselines.layers import ChannelSlice
from keras_airn.network.model import VGGSOUND_CLASSES

DEPTHS = (3, 3, 9, 3)
WIDTHS = (96, 192, 384, 768)
MLP_RATIOS = (4, 4, 4, 3)
BRANCH_RATIO = 0.125
SQUARE_KERNEL, BAND_KERNEL = 3, 11


def inception_token_mixer(x, name: str):
    """Identity on most channels; 3x3, 1x11 and 11x1 depthwise convs on an eighth each."""
    channels = x.shape[-1]
    group = int(channels * BRANCH_RATIO)
    keep = channels - 3 * group
    parts = [ChannelSlice(0, keep, name=f"{name}_identity")(x)]
    for index, (branch, kernel) in enumerate((("hw", SQUARE_KERNEL), ("w", (1, BAND_KERNEL)),
                                              ("h", (BAND_KERNEL, 1)))):
        start = keep + index * group
        part = ChannelSlice(start, start + group, name=f"{name}_{branch}_slice")(x)
        parts.append(conv(part, group, kernel, f"{name}_dwconv_{branch}", groups=group, use_bias=True))
    return keras.layers.Concatenate(name=f"{name}_concat")(parts)


def metanext_block(x, mlp_ratio: int, name: str):
    channels = x.shape[-1]
    h = inception_token_mixer(x, f"{name}_token_mixer")
    h = batchnorm(h, f"{name}_norm")
    h = conv(h, channels * mlp_ratio, 1, f"{name}_mlp_fc1", use_bias=True)
    h = activation(h, "gelu", f"{name}_mlp_act")
    h = conv(h, channels, 1, f"{name}_mlp_fc2", use_bias=True)
    return keras.layers.Add(name=f"{name}_add")([x, h])


INPUT_MULTIPLE = (32, 32)  # (frames, mel bins): the input must be multiples of its total stride


def inceptionnext_tiny(num_classes: int = VGGSOUND_CLASSES, num_frames: int = 512,
                       num_mel_bins: int = 128) -> keras.Model:
    """InceptionNeXt-T from log-mel (batch, T, F, 1) to logits.

    Args:
        num_classes: output logits.
        num_frames, num_mel_bins: input size (multiples of 32).

    Returns:
        A functional Keras model named "inceptionnext_tiny".
    """
    check_size("inceptionnext_tiny", num_frames, num_mel_bins, INPUT_MULTIPLE)
    inputs = log_mel_input(num_frames, num_mel_bins)
    x = conv(inputs, WIDTHS[0], 4, "stem_conv", stride=4, padding=0, use_bias=True)
    x = batchnorm(x, "stem_bn")
    for stage, (depth, width, ratio) in enumerate(zip(DEPTHS, WIDTHS, MLP_RATIOS)):
        if stage:
            x = batchnorm(x, f"stage{stage}_downsample_bn")
            x = conv(x, width, 2, f"stage{stage}_downsample_conv", stride=2, padding=0, use_bias=True)
        for index in range(depth):
            x = metanext_block(x, ratio, f"stage{stage}_{index}")
    return keras.Model(inputs, classifier(x, num_classes), name="inceptionnext_tiny")
