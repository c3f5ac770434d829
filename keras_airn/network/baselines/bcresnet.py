"""BC-ResNet-8 (Kim et al., "Broadcasted Residual Learning for Efficient Keyword Spotting", 2021).

Source: Qualcomm-AI-research/bcresnet (`BCResNets(base_c=8 * 8)`): a 5 x 5 frequency-strided stem,
four stages of broadcasted residual blocks (2, 2, 4, 4 blocks; widths 64, 96, 128, 160; stride 2
in frequency at the start of stages 2 and 3; time dilation 1, 2, 4, 8 by stage), a 5 x 5
depthwise + 1 x 1 classifier stem and a 1 x 1 linear classifier. A block runs a frequency-wise
depthwise convolution with SubSpectralNorm (5 sub-bands), averages over frequency, runs a dilated
time-wise depthwise convolution (SiLU), a 1 x 1 convolution and dropout, and broadcasts the result
back over frequency.

Differences: the original takes (batch, 1, F, T); here (batch, T, F, 1) with every kernel
transposed. SubSpectralNorm needs the frequency size to divide into 5 sub-bands; at 128 mel bins
no stage does (64, 32, 16 bins), where the original asserts. This port then normalises the whole
band with the first C of the layer's 5 C statistics (what the fallback of later forks does), and
still holds all 5 C, so the parameter count is the original's.
"""

from __future__ import annotations

import keras

from keras_airn.network.baselines.blocks import check_size, conv, conv_bn, log_mel_input
from keras_airn.network.baselines.layers import SubSpectralNorm
from keras_airn.network.model import VGGSOUND_CLASSES

BASE = 8 * 8
STAGE_BLOCKS = (2, 2, 4, 4)
CHANNELS = (BASE * 2, BASE, int(BASE * 1.5), BASE * 2, int(BASE * 2.5), BASE * 4)
STRIDED_STAGES = (1, 2)
SUB_BANDS = 5
DROPOUT = 0.1


def bc_res_block(x, out_channels: int, stage: int, stride: int, name: str):
    """One broadcasted residual block (a transition block where the width changes)."""
    transition = x.shape[-1] != out_channels
    shortcut = x
    if transition:
        x = conv_bn(x, out_channels, 1, f"{name}_transition", act="relu")
    # f2: frequency-wise depthwise conv with SubSpectralNorm, no activation.
    x = conv(x, out_channels, (1, 3), f"{name}_f2_conv", groups=out_channels)
    if stride > 1:
        # TensorFlow's depthwise conv takes equal strides only: the stride-1 conv's every other
        # frequency bin is the strided conv's output (so profile counts this
        # conv at full rate: 1.444 G at 512 x 128 where the original strided conv gives 1.436 G).
        x = keras.layers.MaxPooling2D((1, 1), strides=(1, stride), name=f"{name}_f2_subsample")(x)
    auxiliary = SubSpectralNorm(SUB_BANDS, name=f"{name}_f2_ssn")(x)
    # f1: average over frequency, time-wise dilated depthwise conv, SiLU, 1x1, dropout.
    h = keras.layers.AveragePooling2D((1, auxiliary.shape[2]), name=f"{name}_freq_pool")(auxiliary)
    h = conv_bn(h, out_channels, (3, 1), f"{name}_f1_conv", groups=out_channels, dilation=(2**stage, 1),
                act="silu")
    h = conv(h, out_channels, 1, f"{name}_f1_pointwise")
    h = keras.layers.SpatialDropout2D(DROPOUT, name=f"{name}_f1_dropout")(h)
    # Broadcast over frequency: (batch, T, 1, C) + (batch, T, F, C).
    x = keras.layers.Add(name=f"{name}_broadcast_add")([h, auxiliary])
    if not transition:
        x = keras.layers.Add(name=f"{name}_residual_add")([x, shortcut])
    return keras.layers.ReLU(name=f"{name}_relu")(x)


INPUT_MULTIPLE = (1, 8)  # (frames, mel bins): the input must be multiples of its total stride


def bcresnet8(num_classes: int = VGGSOUND_CLASSES, num_frames: int = 512, num_mel_bins: int = 128) -> keras.Model:
    """BC-ResNet-8 from log-mel (batch, T, F, 1) to logits.

    Args:
        num_classes: output logits.
        num_frames: T (time is never strided).
        num_mel_bins: F, a multiple of 8, at least 40 (the classifier's 5-tap valid frequency conv).

    Returns:
        A functional Keras model named "bcresnet8".
    """
    check_size("bcresnet8", num_frames, num_mel_bins, INPUT_MULTIPLE)
    inputs = log_mel_input(num_frames, num_mel_bins)
    x = conv_bn(inputs, CHANNELS[0], 5, "head_conv", stride=(1, 2), act="relu")
    for stage, blocks in enumerate(STAGE_BLOCKS):
        for index in range(blocks):
            stride = 2 if stage in STRIDED_STAGES and index == 0 else 1
            x = bc_res_block(x, CHANNELS[stage + 1], stage, stride, f"stage{stage}_{index}")
    width = CHANNELS[-2]
    # Depthwise 5 x 5, "valid" in frequency, padded 2 in time, as the original's classifier.
    x = conv(x, width, 5, "classifier_dw", groups=width, padding=(2, 0))
    x = conv_bn(x, CHANNELS[-1], 1, "classifier_conv", act="relu")
    x = keras.layers.GlobalAveragePooling2D(name="head_pool")(x)
    outputs = keras.layers.Dense(num_classes, name="head_projection")(x)
    return keras.Model(inputs, outputs, name="bcresnet8")
