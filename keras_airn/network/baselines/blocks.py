"""Building blocks shared by the baseline networks: PyTorch-padded convolutions, BatchNorm, heads.

Every baseline takes the project's layout, a log-mel `(batch, T, F, 1)` (time rows, frequency
columns, channels last), where the PyTorch originals take `(batch, 1, F, T)` or `(batch, 1, T, F)`;
kernels, strides and paddings are transposed to match, so a layer sees the same neighbourhood.
"""

from __future__ import annotations

from typing import Sequence

import keras

from keras_airn.network.layers import BN_EPSILON, BN_MOMENTUM


def pair(value) -> tuple[int, int]:
    """(a, b) from an int or a pair."""
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def conv(x, filters: int, kernel, name: str, stride=1, groups: int = 1, dilation=1, padding=None,
         use_bias: bool = False):
    """A convolution with PyTorch's padding: `padding` zeros on both sides of each axis.

    Args:
        x: input tensor (batch, T, F, C).
        filters: output channels.
        kernel, stride, dilation: int or (T, F) pair.
        name: the layer's name (a padding layer, where needed, is `name + "_pad"`).
        groups: channel groups; `groups == C == filters` builds a `DepthwiseConv2D`.
        padding: int or (T, F) zeros per side; default `dilation * (kernel - 1) // 2` ("same" for
            odd kernels).
        use_bias: add a bias.

    Returns:
        The output tensor.
    """
    kernel, stride, dilation = pair(kernel), pair(stride), pair(dilation)
    if padding is None:
        padding = tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation))
    padding = pair(padding)
    same = stride == (1, 1) and all(p == d * (k - 1) // 2 and k % 2 for p, k, d in zip(padding, kernel, dilation))
    if any(padding) and not same:
        # Keras "same" pads stride-2 convs asymmetrically; PyTorch pads both sides equally.
        x = keras.layers.ZeroPadding2D(((padding[0],) * 2, (padding[1],) * 2), name=f"{name}_pad")(x)
    mode = "same" if same else "valid"
    channels = x.shape[-1]
    if groups == channels == filters and groups > 1:
        return keras.layers.DepthwiseConv2D(kernel, strides=stride, padding=mode, dilation_rate=dilation,
                                            use_bias=use_bias, name=name)(x)
    return keras.layers.Conv2D(filters, kernel, strides=stride, padding=mode, dilation_rate=dilation,
                               groups=groups, use_bias=use_bias, name=name)(x)


def batchnorm(x, name: str, epsilon: float = BN_EPSILON):
    """BatchNormalization with PyTorch's defaults (eps 1e-5, momentum 0.1)."""
    return keras.layers.BatchNormalization(epsilon=epsilon, momentum=BN_MOMENTUM, name=name)(x)


@keras.saving.register_keras_serializable(package="keras_airn")
def gelu_tanh(x):
    """GELU in its tanh form. The exact (erf) form, PyTorch's default, becomes an `Erfc` node in
    tf2onnx's export, which ONNX does not define; the two differ by under 1e-3 and cost the same."""
    return keras.activations.gelu(x, approximate=True)


def activation(x, kind: str | None, name: str):
    """`kind` ("relu", "gelu", "silu", "hard_swish", ...) as a named layer; None passes `x` through.
    "gelu" is `gelu_tanh`."""
    if kind is None:
        return x
    if kind == "relu":
        return keras.layers.ReLU(name=name)(x)
    return keras.layers.Activation(gelu_tanh if kind == "gelu" else kind, name=name)(x)


def conv_bn(x, filters: int, kernel, name: str, stride=1, groups: int = 1, dilation=1, padding=None,
            act: str | None = None, epsilon: float = BN_EPSILON):
    """Bias-free convolution, BatchNorm (`name + "_bn"`) and an optional activation (`name + "_act"`)."""
    x = conv(x, filters, kernel, name, stride=stride, groups=groups, dilation=dilation, padding=padding)
    x = batchnorm(x, f"{name}_bn", epsilon)
    return activation(x, act, f"{name}_act")


def max_pool(x, size, stride, padding, name: str):
    """MaxPool with PyTorch's symmetric padding, for inputs that are >= 0 (after a ReLU), where a
    zero pad never wins (-inf padding is what PyTorch does; the result is the same)."""
    if any(pair(padding)):
        p = pair(padding)
        x = keras.layers.ZeroPadding2D(((p[0],) * 2, (p[1],) * 2), name=f"{name}_pad")(x)
    return keras.layers.MaxPooling2D(pair(size), strides=pair(stride), name=name)(x)


def classifier(x, num_classes: int, dropout: float = 0.0, name: str = "head"):
    """Global average pool, optional dropout, linear layer to logits."""
    x = keras.layers.GlobalAveragePooling2D(name=f"{name}_pool")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return keras.layers.Dense(num_classes, name=f"{name}_projection")(x)


def log_mel_input(num_frames: int, num_mel_bins: int, channels: int = 1):
    """The `log_mel` input every baseline takes: (batch, T, F, channels)."""
    return keras.Input((num_frames, num_mel_bins, channels), name="log_mel")


def check_size(name: str, num_frames: int, num_mel_bins: int, multiple: int | Sequence[int]) -> None:
    """Raises `KerasAirnError` (a ValueError) naming the network when T or F is not a multiple of
    its total stride."""
    from keras_airn.errors import KerasAirnError

    multiple_t, multiple_f = pair(multiple)
    if num_frames % multiple_t or num_mel_bins % multiple_f:
        raise KerasAirnError(f"{name} needs num_frames a multiple of {multiple_t} and num_mel_bins a multiple of "
                             f"{multiple_f}; got {num_frames} x {num_mel_bins} (the front-end's clip_seconds "
                             f"and n_mels set them).")
