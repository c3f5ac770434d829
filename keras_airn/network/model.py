"""The AudioRepInceptionNeXt network as a Keras functional model.

Layer names follow the official checkpoint keys ('.' -> '_', 'pathway0_' dropped), so that
`s3.pathway0_res0.branch2.a_head_bn` is the layer `s3_res0_a_head_bn`. See docs/reference.md, section 2.
"""

from __future__ import annotations

from typing import Sequence

import keras

from keras_airn.network.layers import BN_EPSILON, BN_MOMENTUM, MultiScaleDepthwiseMixer

VGGSOUND_CLASSES = 309  # the release's pre-training set: its checkpoints' head
STAGE_NUMBERS = (2, 3, 4, 5)
STEM_KERNEL = (5, 7)
STEM_PADDING = ((2, 2), (3, 3))


def batchnorm_name(conv_name: str) -> str:
    """Returns the name of the BatchNorm that follows the conv `conv_name` in the train form."""
    return "s1_stem_bn" if conv_name == "s1_stem_conv" else f"{conv_name}_bn"


def _conv_initializer():
    # The release initialises convs with Kaiming normal, fan-out (Caffe2 MSRA fill).
    return keras.initializers.VarianceScaling(2.0, "fan_out", "untruncated_normal")


@keras.saving.register_keras_serializable(package="keras_airn")
class AudioRepInceptionNeXt(keras.Model):
    """AudioRepInceptionNeXt from a log-mel spectrogram `(batch, T, F, 1)` to logits.

    Three forms share one builder:
    - train form (`deploy=False`): multi-scale mixers with a BatchNorm per branch;
    - release deploy form (`deploy=True`): each mixer is one biased depthwise conv plus the
      identity add, other conv+BN pairs kept, as in the authors' deploy checkpoints;
    - folded form (`deploy=True, fold_batchnorm=True`, optionally `fold_identity=True`): no
      BatchNormalization layer at all and, with `fold_identity`, no identity add in the mixers.
    Use `keras_airn.reparameterize` (or `to_deploy`) to get a deploy form with merged weights.

    Args:
        num_classes: number of output logits.
        stem_width: channels C1 of the stem.
        stage_widths: output channels C2..C5 of the four stages.
        depths: blocks L2..L5 per stage.
        expansion: inverted-bottleneck expansion E; 0 removes the 1x1 expansion (ablation).
        kernel_sizes: taps of the parallel depthwise branches, e.g. (21, 11, 3).
        mixing: "separable" (time then frequency) or "2d" (k x k depthwise).
        use_identity: add the identity term in each mixing step.
        dropout: dropout rate before the classifier.
        num_mel_bins: F, the mel bins of the input.
        num_frames: T, or None for variable-length input.
        deploy: build the merged (re-parameterised) structure.
        fold_batchnorm: in deploy form, fold every BatchNorm into its conv.
        fold_identity: in deploy form, fold the mixers' identity into their kernels.
        freeze_batchnorm: make every BatchNorm but the stem's non-trainable (inference mode),
            the release's fine-tuning recipe; kept in the config, so it survives save and load.
        sync_batchnorm: compute BatchNorm statistics over all replicas when training under a
            `tf.distribute` strategy (TensorFlow backend), so multi-device training matches
            single-device training.
        time_as_rows: run the time-axis depthwise convolutions on the transposed layout (see
            `MultiScaleDepthwiseMixer`): same outputs, faster under XNNPACK; TFLite export sets it.
        name: model name.

    Example:
    >>> model = AudioRepInceptionNeXt(num_classes=10, stem_width=32,
    ...                               stage_widths=(32, 64, 128, 256))
    >>> logits = model(keras.ops.zeros((1, 512, 128, 1)))
    """

    def __init__(
        self,
        num_classes: int = VGGSOUND_CLASSES,
        stem_width: int = 64,
        stage_widths: Sequence[int] = (64, 128, 256, 512),
        depths: Sequence[int] = (3, 4, 6, 3),
        expansion: int = 4,
        kernel_sizes: Sequence[int] = (21, 11, 3),
        mixing: str = "separable",
        use_identity: bool = True,
        dropout: float = 0.5,
        num_mel_bins: int = 128,
        num_frames: int | None = None,
        deploy: bool = False,
        fold_batchnorm: bool = False,
        fold_identity: bool = False,
        freeze_batchnorm: bool = False,
        sync_batchnorm: bool = False,
        time_as_rows: bool = False,
        name: str = "audio_rep_inception_next",
        **kwargs,
    ):
        _check_options(mixing, stage_widths, depths, deploy, fold_batchnorm, fold_identity, use_identity)
        graph = _GraphBuilder(kernel_sizes, use_identity, deploy, fold_batchnorm, fold_identity, sync_batchnorm,
                              time_as_rows)
        inputs = keras.Input((num_frames, num_mel_bins, 1), name="log_mel")
        x = graph.stem(inputs, stem_width)
        channels = stem_width
        for stage, width, depth in zip(STAGE_NUMBERS, stage_widths, depths):
            for index in range(depth):
                stride = 2 if (index == 0 and stage != STAGE_NUMBERS[0]) else 1
                x = graph.block(x, f"s{stage}_res{index}", width, stride, channels, mixing, expansion)
                channels = width
        outputs = graph.head(x, num_classes, dropout)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)

        self.num_classes = num_classes
        self.stem_width = stem_width
        self.stage_widths = tuple(stage_widths)
        self.depths = tuple(depths)
        self.expansion = expansion
        self.kernel_sizes = tuple(sorted(kernel_sizes, reverse=True))
        self.mixing = mixing
        self.use_identity = use_identity
        self.dropout = dropout
        self.num_mel_bins = num_mel_bins
        self.num_frames = num_frames
        self.deploy = deploy
        self.fold_batchnorm = fold_batchnorm
        self.fold_identity = fold_identity
        self.sync_batchnorm = sync_batchnorm
        self.time_as_rows = time_as_rows
        self.freeze_batchnorm = freeze_batchnorm
        if freeze_batchnorm:
            for layer in self._flatten_layers():
                if isinstance(layer, keras.layers.BatchNormalization) and layer.name != "s1_stem_bn":
                    layer.trainable = False

    @property
    def form(self) -> str:
        """One of "train", "release_deploy", "folded", "folded_identity"."""
        if not self.deploy:
            return "train"
        if not self.fold_batchnorm:
            return "release_deploy"
        return "folded_identity" if self.fold_identity else "folded"

    def __call__(self, inputs, *args, **kwargs):
        shape = getattr(inputs, "shape", None)
        if shape is not None:
            if len(shape) != 4:
                raise ValueError(
                    f"{self.name} expects a log-mel batch of rank 4 (batch, frames, "
                    f"{self.num_mel_bins} mel bins, 1); got rank {len(shape)} shape {tuple(shape)}."
                )
            if shape[2] is not None and shape[2] != self.num_mel_bins:
                raise ValueError(
                    f"{self.name} was built for {self.num_mel_bins} mel bins; the input has "
                    f"{shape[2]} (shape {tuple(shape)})."
                )
            if shape[1] is not None and shape[1] < 32:
                raise ValueError(f"{self.name} needs at least 32 frames; got {shape[1]}.")
        # Explicit base call (no super()): AutoGraph cannot convert a method with a __class__ cell.
        return keras.Model.__call__(self, inputs, *args, **kwargs)

    def get_config(self):
        return {
            "num_classes": self.num_classes,
            "stem_width": self.stem_width,
            "stage_widths": list(self.stage_widths),
            "depths": list(self.depths),
            "expansion": self.expansion,
            "kernel_sizes": list(self.kernel_sizes),
            "mixing": self.mixing,
            "use_identity": self.use_identity,
            "dropout": self.dropout,
            "num_mel_bins": self.num_mel_bins,
            "num_frames": self.num_frames,
            "deploy": self.deploy,
            "fold_batchnorm": self.fold_batchnorm,
            "fold_identity": self.fold_identity,
            "freeze_batchnorm": self.freeze_batchnorm,
            "sync_batchnorm": self.sync_batchnorm,
            "time_as_rows": self.time_as_rows,
            "name": self.name,
        }

    def with_options(self, **overrides) -> "AudioRepInceptionNeXt":
        """A copy with other constructor options that keep the weights' shapes (e.g.
        `time_as_rows`, `sync_batchnorm`), carrying this model's weights.

        Example:
        >>> model = AudioRepInceptionNeXt(num_classes=3, stem_width=8, stage_widths=(8, 16, 32, 64),
        ...                               depths=(1, 1, 1, 1))
        >>> fast = model.with_options(time_as_rows=True)
        >>> fast.time_as_rows
        True
        """
        clone = type(self).from_config({**self.get_config(), **overrides})
        clone.set_weights(self.get_weights())
        return clone

    def to_deploy(self, fold_identity: bool = True, fold_batchnorm: bool = True) -> "AudioRepInceptionNeXt":
        """The deploy form with merged weights; this model is left untouched. The protocol
        `keras_airn.network.deploy.reparameterize` asks a network for (its arguments there)."""
        from keras_airn.network.deploy import transfer_weights

        config = {**self.get_config(), "deploy": True, "fold_batchnorm": fold_batchnorm or self.fold_batchnorm,
                  "fold_identity": (fold_identity or self.fold_identity) and self.use_identity}
        deploy_model = type(self).from_config(config)
        transfer_weights(self, deploy_model)
        return deploy_model

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _check_options(mixing, stage_widths, depths, deploy, fold_batchnorm, fold_identity, use_identity) -> None:
    if mixing not in ("separable", "2d"):
        raise ValueError(f"mixing must be 'separable' or '2d', got {mixing!r}.")
    if len(stage_widths) != 4 or len(depths) != 4:
        raise ValueError(f"stage_widths and depths need 4 entries (stages 2-5), got {stage_widths}, {depths}.")
    if (fold_batchnorm or fold_identity) and not deploy:
        raise ValueError("fold_batchnorm / fold_identity apply to the deploy form only.")
    if fold_identity and not use_identity:
        raise ValueError("fold_identity needs use_identity=True.")


class _GraphBuilder:
    """Adds the network's layers to a functional graph, in one of the three forms, named after
    the release's checkpoint keys."""

    def __init__(self, kernel_sizes, use_identity, deploy, fold_batchnorm, fold_identity, sync_batchnorm,
                 time_as_rows):
        self.kernel_sizes, self.use_identity, self.deploy = kernel_sizes, use_identity, deploy
        self.fold_batchnorm, self.fold_identity = fold_batchnorm, fold_identity
        self.sync_batchnorm, self.time_as_rows = sync_batchnorm, time_as_rows

    def conv_bn(self, x, filters, kernel, stride, layer_name, zero_gamma=False):
        """A conv and its BatchNorm, or one biased conv in the folded form."""
        if self.fold_batchnorm:
            return keras.layers.Conv2D(filters, kernel, strides=stride, use_bias=True, name=layer_name)(x)
        x = keras.layers.Conv2D(filters, kernel, strides=stride, use_bias=False,
                                kernel_initializer=_conv_initializer(), name=layer_name)(x)
        return keras.layers.BatchNormalization(
            epsilon=BN_EPSILON, momentum=BN_MOMENTUM, gamma_initializer="zeros" if zero_gamma else "ones",
            synchronized=self.sync_batchnorm, name=batchnorm_name(layer_name))(x)

    def mixer(self, x, axis, layer_name):
        return MultiScaleDepthwiseMixer(
            self.kernel_sizes, axis=axis, use_identity=self.use_identity, deploy=self.deploy,
            fold_identity=self.fold_identity, synchronized=self.sync_batchnorm, time_as_rows=self.time_as_rows,
            name=layer_name)(x)

    def stem(self, x, width):
        # Keras "same" pads stride-2 convs asymmetrically; PyTorch pads (2, 3) both sides.
        x = keras.layers.ZeroPadding2D(STEM_PADDING, name="s1_stem_pad")(x)
        x = self.conv_bn(x, width, STEM_KERNEL, 2, "s1_stem_conv")
        x = keras.layers.ReLU(name="s1_stem_relu")(x)
        # Zero padding is exact here: the input is post-ReLU (>= 0), so a padded cell never wins.
        x = keras.layers.ZeroPadding2D(1, name="s1_stem_pool_pad")(x)
        return keras.layers.MaxPooling2D(3, strides=2, name="s1_stem_pool")(x)

    def block(self, x, prefix, width, stride, in_channels, mixing, expansion):
        """One residual block: 1x1 conv, the mixers, the inverted bottleneck, the shortcut add."""
        if in_channels != width or stride != 1:
            shortcut = self.conv_bn(x, width, 1, stride, f"{prefix}_branch1")
        else:
            shortcut = x
        h = self.conv_bn(x, width, 1, stride, f"{prefix}_a_head")
        h = keras.layers.ReLU(name=f"{prefix}_a_head_relu")(h)
        if mixing == "separable":
            h = self.mixer(h, "time", f"{prefix}_a")
            h = keras.layers.ReLU(name=f"{prefix}_a_relu")(h)
            h = self.mixer(h, "freq", f"{prefix}_b")
            h = keras.layers.ReLU(name=f"{prefix}_b_relu")(h)
        else:
            h = self.mixer(h, "2d", f"{prefix}_a")
            h = keras.layers.ReLU(name=f"{prefix}_a_relu")(h)
        if expansion:
            h = self.conv_bn(h, expansion * width, 1, 1, f"{prefix}_c")
            h = keras.layers.ReLU(name=f"{prefix}_c_relu")(h)
            h = self.conv_bn(h, width, 1, 1, f"{prefix}_d", zero_gamma=True)
        x = keras.layers.Add(name=f"{prefix}_add")([shortcut, h])
        return keras.layers.ReLU(name=f"{prefix}_relu")(x)

    def head(self, x, num_classes, dropout):
        x = keras.layers.GlobalAveragePooling2D(name="head_pool")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name="head_dropout")(x)
        return keras.layers.Dense(num_classes, kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
                                  name="head_projection")(x)
