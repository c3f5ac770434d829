"""The last stages of a deploy AudioRepInceptionNeXt as trainable pointwise layers, gradient written out.

`trainable.py`'s head learns alone by default; with `adapt_stages=N` the pointwise convolutions
(`a_head`, `c`, `d`, `branch1`) of the network's last N stages learn too, their depthwise mixers
held fixed. Everything is builtin LiteRT ops: a pointwise convolution is a matrix product, the
gradient through a fixed "same" depthwise convolution of odd size is the same convolution with
its kernel flipped, through a stride-2 pointwise convolution it is the gradient interleaved with
zeros, and through ReLU a mask. Adapting the pointwise layers of the last two stages of B0 on five
clips per digit of a voice never heard does what training the whole network does
(docs/personalise.md, "How much of the network learns").
"""

from __future__ import annotations

import dataclasses

import numpy as np

POINTWISE = ("a_head", "c", "d", "branch1")  # the convolutions that learn, in a block's order


@dataclasses.dataclass
class Block:
    """One residual block of the tail: its name, stride, and fixed mixers ((kernel, bias) each)."""

    prefix: str
    stride: int
    branch: bool
    mixers: list


def tail_of(model, stages: int):
    """The tail of a deploy model: (the layer whose input `train` learns from, blocks, weights).

    Args:
        model: a deploy, BatchNorm-folded AudioRepInceptionNeXt (`model_for_export`).
        stages: how many of the last stages learn (1 to the model's stages).

    Returns:
        (first block's `a_head` layer, [Block], {"<prefix>_<conv>_w" (Cin, Cout), "..._b": array}).

    Raises:
        ConversionError: not a deploy AudioRepInceptionNeXt with folded BatchNorm, or too many stages.
    """
    from keras_airn.export.common import ConversionError
    from keras_airn.network.deploy import reparameterizable

    if not (reparameterizable(model) and model.deploy and model.fold_batchnorm and model.fold_identity
            and model.mixing == "separable"):
        raise ConversionError("adapt_stages needs a re-parameterised separable AudioRepInceptionNeXt.")
    count = len(model.depths)
    if isinstance(stages, bool) or not isinstance(stages, int) or not 1 <= stages <= count:
        raise ConversionError(f"adapt_stages must be a whole number from 0 to {count}, got {stages!r}.")
    names = {layer.name for layer in model.layers}
    blocks, weights = [], {}
    for stage in range(count - stages, count):
        for index in range(model.depths[stage]):
            prefix = f"s{stage + 2}_res{index}"
            mixers = [tuple(np.asarray(v, np.float32) for v in model.get_layer(f"{prefix}_{m}").merged_weights())
                      for m in ("a", "b")]
            block = Block(prefix, 2 if index == 0 and stage > 0 else 1, f"{prefix}_branch1" in names, mixers)
            for conv in POINTWISE:
                if conv == "branch1" and not block.branch:
                    continue
                kernel, bias = (np.asarray(v, np.float32) for v in model.get_layer(f"{prefix}_{conv}").weights)
                weights[f"{prefix}_{conv}_w"], weights[f"{prefix}_{conv}_b"] = kernel[0, 0], bias
            blocks.append(block)
    return model.get_layer(f"{blocks[0].prefix}_a_head"), blocks, weights


def _pointwise(x, weights, name):
    import tensorflow as tf

    return tf.matmul(x, weights[f"{name}_w"]) + weights[f"{name}_b"]


def _depthwise(x, kernel, bias=None):
    import tensorflow as tf

    y = tf.nn.depthwise_conv2d(x, kernel, [1, 1, 1, 1], "SAME")
    return y if bias is None else y + bias


def forward(blocks, weights, x):
    """The tail's output feature map, and what `backward` needs."""
    import tensorflow as tf

    saved = []
    for block in blocks:
        xs = x[:, :: block.stride, :: block.stride, :] if block.stride > 1 else x
        a = tf.nn.relu(_pointwise(xs, weights, f"{block.prefix}_a_head"))
        m1 = tf.nn.relu(_depthwise(a, *block.mixers[0]))
        m2 = tf.nn.relu(_depthwise(m1, *block.mixers[1]))
        c = tf.nn.relu(_pointwise(m2, weights, f"{block.prefix}_c"))
        shortcut = _pointwise(xs, weights, f"{block.prefix}_branch1") if block.branch else x
        out = tf.nn.relu(shortcut + _pointwise(c, weights, f"{block.prefix}_d"))
        saved.append((x, xs, a, m1, m2, c, out))
        x = out
    return x, saved


def _weight_grads(grads, name, inputs, delta):
    """d loss / d (kernel, bias) of a pointwise convolution from its input and output gradient."""
    import tensorflow as tf

    channels_in, channels_out = inputs.shape[-1], delta.shape[-1]
    flat_in, flat_delta = tf.reshape(inputs, [-1, channels_in]), tf.reshape(delta, [-1, channels_out])
    grads[f"{name}_w"] = tf.matmul(flat_in, flat_delta, transpose_a=True)
    grads[f"{name}_b"] = tf.reduce_sum(flat_delta, axis=0)


def _through_stride(delta, shape):
    """The gradient of x[:, ::2, ::2] with respect to x (of `shape`): `delta` interleaved with zeros."""
    import tensorflow as tf

    rows, cols = delta.shape[1], delta.shape[2]
    channels = delta.shape[3]
    wide = tf.reshape(tf.stack([delta, tf.zeros_like(delta)], axis=3), [-1, rows, 2 * cols, channels])
    tall = tf.reshape(tf.stack([wide, tf.zeros_like(wide)], axis=2), [-1, 2 * rows, 2 * cols, channels])
    return tall[:, : shape[1], : shape[2], :]


def backward(blocks, weights, saved, delta_out):
    """d loss / d every weight of the tail, from d loss / d its output feature map."""
    import tensorflow as tf

    grads, delta = {}, delta_out
    for block, (x, xs, a, m1, m2, c, out) in reversed(list(zip(blocks, saved))):
        p = block.prefix
        delta = delta * tf.cast(out > 0, tf.float32)
        _weight_grads(grads, f"{p}_d", c, delta)
        inner = tf.matmul(delta, weights[f"{p}_d_w"], transpose_b=True) * tf.cast(c > 0, tf.float32)
        _weight_grads(grads, f"{p}_c", m2, inner)
        inner = tf.matmul(inner, weights[f"{p}_c_w"], transpose_b=True) * tf.cast(m2 > 0, tf.float32)
        inner = _depthwise(inner, block.mixers[1][0][::-1, ::-1]) * tf.cast(m1 > 0, tf.float32)
        inner = _depthwise(inner, block.mixers[0][0][::-1, ::-1]) * tf.cast(a > 0, tf.float32)
        _weight_grads(grads, f"{p}_a_head", xs, inner)
        if block.branch:
            _weight_grads(grads, f"{p}_branch1", xs, delta)
        if block is blocks[0]:
            break  # nothing before the tail learns
        to_input = tf.matmul(inner, weights[f"{p}_a_head_w"], transpose_b=True)
        if block.branch:
            to_input += tf.matmul(delta, weights[f"{p}_branch1_w"], transpose_b=True)
        else:
            to_input += delta
        delta = _through_stride(to_input, x.shape) if block.stride > 1 else to_input
    return grads
