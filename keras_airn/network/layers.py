"""Custom Keras layers of AudioRepInceptionNeXt.

The only layer specific to this model is the multi-scale depthwise mixer: parallel depthwise
convolutions of several kernel sizes (each with its own BatchNorm) plus an identity term, which
re-parameterises into one depthwise convolution. Everything else in the network is a stock Keras
layer, so the graph exports cleanly to TFLite and ONNX.
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np

BN_EPSILON = 1e-5
# PyTorch momentum 0.1 is Keras momentum 0.9 (Keras weights the running value, PyTorch the batch).
BN_MOMENTUM = 0.9

MIXING_AXES = ("time", "freq", "2d")


def _checked_kernel_sizes(kernel_sizes: Sequence[int]) -> tuple[int, ...]:
    """`kernel_sizes` as ints, largest first.

    Raises:
        ValueError: none given, an even or non-positive size, or a size given twice.
    """
    kernel_sizes = tuple(sorted((int(k) for k in kernel_sizes), reverse=True))
    if not kernel_sizes or any(k < 1 or k % 2 == 0 for k in kernel_sizes):
        raise ValueError(f"kernel_sizes must be odd positive integers, got {kernel_sizes}.")
    if len(set(kernel_sizes)) != len(kernel_sizes):
        raise ValueError(f"kernel_sizes must be distinct, got {kernel_sizes}.")
    return kernel_sizes


def branch_kernel_shape(kernel_size: int, axis: str) -> tuple[int, int]:
    """Returns the (T, F) kernel shape of one mixing branch.

    Args:
        kernel_size: taps of the branch.
        axis: "time" (k x 1), "freq" (1 x k) or "2d" (k x k).

    Returns:
        A (kernel_T, kernel_F) tuple.
    """
    if axis == "time":
        return (kernel_size, 1)
    if axis == "freq":
        return (1, kernel_size)
    if axis == "2d":
        return (kernel_size, kernel_size)
    raise ValueError(f"Unknown mixing axis {axis!r}; expected one of {MIXING_AXES}.")


def fold_batchnorm(kernel, gamma, beta, mean, variance, epsilon, out_axis, bias=None):
    """Folds an inference-mode BatchNorm into the convolution before it.

    W' = W * gamma / sqrt(var + eps) along the output-channel axis and
    b' = beta + (b - mean) * gamma / sqrt(var + eps).

    Args:
        kernel: convolution kernel as a numpy array.
        gamma, beta, mean, variance: BatchNorm parameters, shape (channels,).
        epsilon: the BatchNorm epsilon.
        out_axis: axis of `kernel` that indexes output channels.
        bias: the convolution's own bias, or None.

    Returns:
        (kernel, bias) of the equivalent biased convolution, float32.
    """
    scale = np.asarray(gamma, np.float64) / np.sqrt(np.asarray(variance, np.float64) + epsilon)
    shape = [1] * kernel.ndim
    shape[out_axis] = -1
    folded_kernel = np.asarray(kernel, np.float64) * scale.reshape(shape)
    conv_bias = np.zeros_like(scale) if bias is None else np.asarray(bias, np.float64)
    folded_bias = np.asarray(beta, np.float64) + (conv_bias - np.asarray(mean, np.float64)) * scale
    return folded_kernel.astype(np.float32), folded_bias.astype(np.float32)


@keras.saving.register_keras_serializable(package="keras_airn")
class MultiScaleDepthwiseMixer(keras.layers.Layer):
    """Parallel depthwise convolutions of several sizes, summed, plus an identity term.

    Train form (`deploy=False`): for each kernel size k a depthwise conv (k x 1, 1 x k or k x k,
    "same" padding, which for stride 1 and odd k is PyTorch's symmetric k // 2), followed by its
    own BatchNorm; the outputs are summed and, with `use_identity`, the input is added.

    Deploy form (`deploy=True`): one biased depthwise conv of the largest size, which is exact
    after `set_merged_weights`. With `fold_identity=True` the identity is folded into the centre
    tap as well, so the layer is a single convolution.

    The activation (ReLU) that follows in the network is not part of this layer.

    Args:
        kernel_sizes: taps of the branches, e.g. (21, 11, 3); all odd.
        axis: "time", "freq" or "2d".
        use_identity: add the input to the branch sum.
        deploy: build the merged single-convolution form.
        fold_identity: in deploy form, fold the identity into the kernel (needs `use_identity`).
        epsilon: BatchNorm epsilon of the train form.
        momentum: BatchNorm momentum (Keras convention) of the train form.
        synchronized: BatchNorm statistics over all replicas under `tf.distribute`.
        time_as_rows: for `axis="time"`, run the convolutions on the transposed (F, T) layout,
            as 1 x k rows, and transpose back. Outputs are identical; XNNPACK's depthwise
            kernels are about twice as fast along rows as along columns (their k input rows
            are far apart in memory), which outweighs the two transposes. Weights keep their
            (k, 1) shape.

    Example:
    >>> mixer = MultiScaleDepthwiseMixer((21, 11, 3), axis="time", name="s2_res0_a")
    >>> y = mixer(keras.ops.ones((1, 32, 16, 8)))
    """

    def __init__(
        self,
        kernel_sizes: Sequence[int] = (21, 11, 3),
        axis: str = "time",
        use_identity: bool = True,
        deploy: bool = False,
        fold_identity: bool = False,
        epsilon: float = BN_EPSILON,
        momentum: float = BN_MOMENTUM,
        synchronized: bool = False,
        time_as_rows: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        kernel_sizes = _checked_kernel_sizes(kernel_sizes)
        branch_kernel_shape(1, axis)  # validates axis
        if fold_identity and not (deploy and use_identity):
            raise ValueError("fold_identity needs deploy=True and use_identity=True.")
        self.kernel_sizes = kernel_sizes
        self.axis = axis
        self.use_identity = use_identity
        self.deploy = deploy
        self.fold_identity = fold_identity
        self.epsilon = epsilon
        self.momentum = momentum
        self.synchronized = synchronized
        self.time_as_rows = time_as_rows

        if deploy:
            self.merged = self._new_conv(kernel_sizes[0], use_bias=True, name="merged")
        else:
            self.branch_convs = []
            self.branch_bns = []
            for k in kernel_sizes:  # conv, then its BatchNorm: the order of the weights
                self.branch_convs.append(self._new_conv(k, use_bias=False, name=f"conv{k}"))
                self.branch_bns.append(keras.layers.BatchNormalization(
                    epsilon=epsilon, momentum=momentum, synchronized=synchronized, name=f"bn{k}",
                    dtype=self.dtype_policy))

    def _new_conv(self, kernel_size: int, use_bias: bool, name: str):
        """A "same"-padded depthwise conv of `kernel_size` taps along this mixer's axis."""
        return keras.layers.DepthwiseConv2D(branch_kernel_shape(kernel_size, self.axis), padding="same",
                                            use_bias=use_bias, name=name, dtype=self.dtype_policy)

    def build(self, input_shape):
        if self.deploy:
            self.merged.build(input_shape)
        else:
            for conv, bn in zip(self.branch_convs, self.branch_bns):
                conv.build(input_shape)
                bn.build(input_shape)

    def call(self, inputs, training=None):
        rows = self.time_as_rows and self.axis == "time"
        x = keras.ops.transpose(inputs, (0, 2, 1, 3)) if rows else inputs
        if self.deploy:
            outputs = self._depthwise(self.merged, x, rows)
        else:
            outputs = None
            for conv, bn in zip(self.branch_convs, self.branch_bns):
                branch = bn(self._depthwise(conv, x, rows), training=training)
                outputs = branch if outputs is None else outputs + branch
        if rows:
            outputs = keras.ops.transpose(outputs, (0, 2, 1, 3))
        if self.use_identity and not self.fold_identity:
            outputs = outputs + inputs
        return outputs

    @staticmethod
    def _depthwise(conv, x, as_rows: bool):
        """`conv` applied to x, or with its (k, 1) kernel as a (1, k) row on transposed x."""
        if not as_rows:
            return conv(x)
        y = keras.ops.depthwise_conv(x, keras.ops.transpose(conv.kernel, (1, 0, 2, 3)), 1, "same")
        return y + conv.bias if conv.use_bias else y

    def compute_output_shape(self, input_shape):
        return input_shape

    def merged_weights(self) -> tuple[np.ndarray, np.ndarray]:
        """Returns the kernel and bias of the equivalent single depthwise convolution.

        The identity term is included in the kernel only when this layer folds it
        (`fold_identity=True`); otherwise it stays a separate add, as in the release.

        Returns:
            (kernel of shape (kT, kF, channels, 1), bias of shape (channels,)), float32.
        """
        if self.deploy:
            kernel, bias = (np.asarray(w) for w in self.merged.get_weights())
            return kernel, bias
        size = branch_kernel_shape(self.kernel_sizes[0], self.axis)
        kernel = None
        bias = None
        for conv, bn in zip(self.branch_convs, self.branch_bns):
            gamma, beta, mean, variance = bn.get_weights()
            k, b = fold_batchnorm(
                conv.get_weights()[0], gamma, beta, mean, variance, bn.epsilon, out_axis=2
            )
            pad_t = (size[0] - k.shape[0]) // 2
            pad_f = (size[1] - k.shape[1]) // 2
            k = np.pad(k, ((pad_t, pad_t), (pad_f, pad_f), (0, 0), (0, 0)))
            kernel = k if kernel is None else kernel + k
            bias = b if bias is None else bias + b
        return kernel, bias

    def set_merged_weights(self, kernel: np.ndarray, bias: np.ndarray, identity_in_kernel: bool):
        """Sets the deploy-form weights.

        Args:
            kernel: merged kernel (kT, kF, channels, 1) without or with the identity.
            bias: merged bias (channels,).
            identity_in_kernel: whether `kernel` already contains the identity term.
        """
        if not self.deploy:
            raise ValueError(f"{self.name}: set_merged_weights needs a deploy-form mixer.")
        kernel = np.array(kernel, np.float32)
        centre = (kernel.shape[0] // 2, kernel.shape[1] // 2)
        if self.fold_identity and not identity_in_kernel:
            kernel[centre[0], centre[1], :, 0] += 1.0
        elif identity_in_kernel and not self.fold_identity:
            kernel[centre[0], centre[1], :, 0] -= 1.0
        self.merged.set_weights([kernel, np.asarray(bias, np.float32)])

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "kernel_sizes": list(self.kernel_sizes),
                "axis": self.axis,
                "use_identity": self.use_identity,
                "deploy": self.deploy,
                "fold_identity": self.fold_identity,
                "epsilon": self.epsilon,
                "momentum": self.momentum,
                "synchronized": self.synchronized,
                "time_as_rows": self.time_as_rows,
            }
        )
        return config
