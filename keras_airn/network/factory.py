"""Named presets of AudioRepInceptionNeXt, timm-style: `create_model("b1", num_classes=...)`.

The presets are entries of `keras_airn.network.registry` (family `AIRN`); `PRESETS` is a view
of them.
"""

from __future__ import annotations

from keras_airn.network.model import VGGSOUND_CLASSES, AudioRepInceptionNeXt
from keras_airn.network.registry import AIRN, create_network, list_networks, network_info

# Table I of the paper (the registry's AudioRepInceptionNeXt entries): {name: constructor arguments}.
PRESETS = {name: dict(network_info(name).config) for name in list_networks(AIRN)}

# Kernel sets of the paper's Table VI ablation; pass one as `kernel_sizes=`.
ABLATION_KERNEL_SETS = {
    "3": (3,),
    "11": (11,),
    "21": (21,),
    "11+3": (11, 3),
    "21+3": (21, 3),
    "21+11+3": (21, 11, 3),
    "31+21+11+3": (31, 21, 11, 3),
}


def create_model(name: str, num_classes: int = VGGSOUND_CLASSES, **overrides) -> AudioRepInceptionNeXt:
    """Builds a preset model (`keras_airn.network.registry.create_network` for a preset).

    Args:
        name: one of `PRESETS` ("b0", "b1", "b1_2d").
        num_classes: number of output logits.
        **overrides: any `AudioRepInceptionNeXt` argument, e.g. `kernel_sizes=(31, 21, 11, 3)`,
            `use_identity=False`, `expansion=0` (Table VI ablations) or `deploy=True`.

    Returns:
        The train-form model (or the form `overrides` ask for).

    Example:
    >>> model = create_model("b0", num_classes=10, kernel_sizes=ABLATION_KERNEL_SETS["21+3"])
    """
    if not isinstance(name, str) or name.lower() not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}; choose one of {sorted(PRESETS)}.")
    return create_network(name, num_classes, **overrides)


def finetune_network(pretrained: AudioRepInceptionNeXt, num_classes: int, dropout: float = 0.5):
    """A copy of `pretrained` with a new head and every BatchNorm but the stem's frozen: the
    release's fine-tuning set-up.

    Args:
        pretrained: a train-form `AudioRepInceptionNeXt`.
        num_classes: classes of the new head.
        dropout: dropout before the head.

    Returns:
        The new network (uncompiled).
    """
    from keras_airn.errors import PresetError
    from keras_airn.network.deploy import transfer_weights

    if not isinstance(pretrained, AudioRepInceptionNeXt) or pretrained.deploy:
        raise PresetError("Fine-tuning needs a train-form AudioRepInceptionNeXt (not a deploy model).")
    config = {**pretrained.get_config(), "num_classes": num_classes, "dropout": dropout,
              "num_frames": None, "freeze_batchnorm": True}
    network = AudioRepInceptionNeXt.from_config(config)
    transfer_weights(pretrained, network, skip=("head_projection",))
    return network
