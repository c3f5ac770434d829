"""Auditory Slow-Fast (Kazakos et al., "Slow-Fast Auditory Streams for Audio Recognition", 2021),
the baseline AudioRepInceptionNeXt was built from and is timed against.

Source: ekazakos/auditory-slow-fast, `SlowFast` with configs/VGG-Sound/SLOWFAST_R50.yaml: ResNet-50
depths (3, 4, 6, 3); a Slow pathway on every 4th frame (alpha 4) with 64 stem channels and a Fast
pathway on every frame with 1/8 of the channels (beta 1/8); 7 x 7 stems (time kernel 1 slow, 5
fast), stride 2 and a 3 x 3 max pool; bottlenecks of a time-only k x 1, a frequency-only 1 x 3
(strided in frequency in stages 3-5) and a 1 x 1 convolution, with time kernel 3 everywhere on the
Fast pathway and in stages 4-5 on the Slow one, 1 elsewhere; fast-to-slow fusion after the stem
and stages 2-4 by a 7 x 1 convolution of time stride 4 doubling the Fast channels, concatenated
onto the Slow pathway; global average pools of both, concatenated, dropout 0.5, linear head.

Differences: one (batch, T, F, 1) input from which the Slow pathway takes every 4th frame inside
the model (the release's loader hands the network both views); a `num_classes` head.
"""

from __future__ import annotations

import keras

from keras_airn.network.baselines.blocks import check_size, conv_bn, log_mel_input, max_pool
from keras_airn.network.model import VGGSOUND_CLASSES

ALPHA, BETA_INV, FUSION_RATIO, FUSION_KERNEL = 4, 8, 2, 7
DEPTHS = (3, 4, 6, 3)
WIDTH = 64
SLOW_TIME_KERNELS = (1, 1, 3, 3)  # stages 2-5
FAST_TIME_KERNEL = 3


def bottleneck(x, inner: int, out: int, time_kernel: int, stride: int, name: str):
    """Tx1 conv, 1x3 conv (frequency stride), 1x1 conv, plus the (projected) shortcut, then ReLU."""
    shortcut = x
    if x.shape[-1] != out or stride != 1:
        shortcut = conv_bn(x, out, 1, f"{name}_branch1", stride=(1, stride))
    h = conv_bn(x, inner, (time_kernel, 1), f"{name}_a", act="relu")
    h = conv_bn(h, inner, (1, 3), f"{name}_b", stride=(1, stride), act="relu")
    h = conv_bn(h, out, 1, f"{name}_c")
    return keras.layers.ReLU(name=f"{name}_relu")(keras.layers.Add(name=f"{name}_add")([shortcut, h]))


def fuse(slow, fast, name: str):
    """Fast-to-slow lateral connection: time-strided conv of the Fast pathway, concatenated."""
    lateral = conv_bn(fast, fast.shape[-1] * FUSION_RATIO, (FUSION_KERNEL, 1), f"{name}_conv_f2s",
                      stride=(ALPHA, 1), act="relu")
    return keras.layers.Concatenate(name=f"{name}_concat")([slow, lateral])


INPUT_MULTIPLE = (ALPHA * 4, 32)  # (frames, mel bins): the input must be multiples of its total stride


def slowfast(num_classes: int = VGGSOUND_CLASSES, num_frames: int = 512, num_mel_bins: int = 128) -> keras.Model:
    """Auditory Slow-Fast R50 from log-mel (batch, T, F, 1) to logits.

    Args:
        num_classes: output logits.
        num_frames: T, a multiple of 16 (alpha x the stem's stride 4).
        num_mel_bins: F, a multiple of 32.

    Returns:
        A functional Keras model named "slowfast".
    """
    check_size("slowfast", num_frames, num_mel_bins, INPUT_MULTIPLE)
    inputs = log_mel_input(num_frames, num_mel_bins)
    # Every ALPHA-th frame: a 1 x 1 pool with stride (ALPHA, 1) is a plain subsample.
    slow = keras.layers.MaxPooling2D((1, 1), strides=(ALPHA, 1), name="slow_subsample")(inputs)
    slow = conv_bn(slow, WIDTH, (1, 7), "s1_slow_stem", stride=2, padding=(0, 3), act="relu")
    fast = conv_bn(inputs, WIDTH // BETA_INV, (5, 7), "s1_fast_stem", stride=2, act="relu")
    slow = max_pool(slow, 3, 2, 1, "s1_slow_pool")
    fast = max_pool(fast, 3, 2, 1, "s1_fast_pool")
    slow = fuse(slow, fast, "s1_fuse")
    for stage, (depth, slow_kernel) in enumerate(zip(DEPTHS, SLOW_TIME_KERNELS), start=2):
        scale = 2 ** (stage - 2)
        for index in range(depth):
            stride = 2 if index == 0 and stage > 2 else 1
            slow = bottleneck(slow, WIDTH * scale, WIDTH * 4 * scale, slow_kernel, stride,
                              f"s{stage}_slow_res{index}")
            fast = bottleneck(fast, WIDTH * scale // BETA_INV, WIDTH * 4 * scale // BETA_INV, FAST_TIME_KERNEL,
                              stride, f"s{stage}_fast_res{index}")
        if stage < 5:
            slow = fuse(slow, fast, f"s{stage}_fuse")
    pooled = [keras.layers.GlobalAveragePooling2D(name=f"head_{path}_pool")(x)
              for path, x in (("slow", slow), ("fast", fast))]
    x = keras.layers.Concatenate(name="head_concat")(pooled)
    x = keras.layers.Dropout(0.5, name="head_dropout")(x)
    outputs = keras.layers.Dense(num_classes, name="head_projection")(x)
    return keras.Model(inputs, outputs, name="slowfast")
