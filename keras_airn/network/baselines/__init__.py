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

BASELINE_MODULES = {
    "bcresnet8": "bcresnet",
    "bn_inception_v1": "bn_inception",
    "slowfast": "slowfast",
    "replknet31t": "replknet",
    "resnet50": "resnet",
    "inceptionnext_tiny": "inceptionnext",
    "efficientat_mn10": "efficientat",
    "yamnet": "yamnet",
}
BASELINES = tuple(BASELINE_MODULES)


def create_baseline(name: str, num_classes: int = VGGSOUND_CLASSES, num_frames: int = 512, num_mel_bins: int = 128):
    """Builds a baseline network with random weights.

    Args:
        name: one of `BASELINES`.
        num_classes: output logits.
        num_frames, num_mel_bins: the log-mel input (T, F); each network states the multiples it
            needs.

    Returns:
        A functional `keras.Model` from `log_mel` (batch, T, F, 1) to logits.
    """
    key = name.lower()
    return getattr(_module(key), key)(num_classes=num_classes, num_frames=num_frames, num_mel_bins=num_mel_bins)


def input_multiple(name: str) -> tuple[int, int]:
    """(frames, mel bins) the network's input must be whole multiples of (its total stride).

    Example:
    >>> input_multiple("efficientat_mn10")
    (8, 32)
    """
    return _module(name).INPUT_MULTIPLE


def _module(name: str):
    """The module that builds baseline `name`, imported on first use."""
    import importlib

    key = name.lower()
    if key not in BASELINE_MODULES:
        raise ValueError(f"Unknown baseline {name!r}; choose one of {', '.join(BASELINES)}.")
    return importlib.import_module(f"keras_airn.network.baselines.{BASELINE_MODULES[key]}")


__all__ = ["BASELINES", "ChannelSlice", "SubSpectralNorm", "create_baseline", "input_multiple"]
