"""The paper's Table V baselines and the audio networks users pick instead, as Keras models.

`create_baseline(name)` builds one at the paper's VGG-Sound input (512 x 128 log-mel, 309
classes) with random weights: architectures only, for counting, conversion and speed. Each
module names its source and what differs from it; docs/baselines.md compares them.

Example:
>>> model = create_baseline("resnet50", num_classes=10, num_frames=256, num_mel_bins=64)
"""

from __future__ import annotations

from keras_airn.network.baselines.layers import ChannelSlice, SubSpectralNorm
from keras_airn.network.model import VGGSOUND_CLASSES
from keras_airn.network.registry import BASELINE, list_networks, network_info

# Views of `keras_airn.network.registry`'s baseline entries: {name: module of this package}.
BASELINE_MODULES = {name: network_info(name).module_name.rsplit(".", 1)[1] for name in list_networks(BASELINE)}
BASELINES = tuple(BASELINE_MODULES)


def create_baseline(name: str, num_classes: int = VGGSOUND_CLASSES, num_frames: int = 512, num_mel_bins: int = 128):
    """Builds a baseline network with random weights (`keras_airn.network.registry.create_network`).

    Args:
        name: one of `BASELINES`.
        num_classes: output logits.
        num_frames, num_mel_bins: the log-mel input (T, F); each network states the multiples it
            needs.

    Returns:
        A functional `keras.Model` from `log_mel` (batch, T, F, 1) to logits.
    """
    from keras_airn.network.registry import create_network

    _check(name)
    return create_network(name, num_classes=num_classes, num_frames=num_frames, num_mel_bins=num_mel_bins)


def input_multiple(name: str) -> tuple[int, int]:
    """(frames, mel bins) the network's input must be whole multiples of (its total stride).

    Example:
    >>> input_multiple("efficientat_mn10")
    (8, 32)
    """
    _check(name)
    return network_info(name).module.INPUT_MULTIPLE


def _check(name: str) -> None:
    if not isinstance(name, str) or name.lower() not in BASELINE_MODULES:
        raise ValueError(f"Unknown baseline {name!r}; choose one of {', '.join(BASELINES)}.")


__all__ = ["BASELINES", "BASELINE_MODULES", "ChannelSlice", "SubSpectralNorm", "create_baseline", "input_multiple"]
