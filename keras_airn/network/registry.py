"""Every network this project builds by name, in one table (timm's `register_model` /
`list_models` / `create_model`).

AudioRepInceptionNeXt's presets (the paper's Table I) and the baselines of
`keras_airn.network.baselines` are registered here; `create_network(name)` builds any of them,
`network_info(name)` says what it is, e.g. `create_network("resnet50", num_classes=10,
num_frames=256, num_mel_bins=64)`. `keras_airn.network.factory.PRESETS` and
`keras_airn.network.baselines.BASELINES` are views of this table; tests/test_networks.py runs
every entry.
"""

from __future__ import annotations

import dataclasses
import importlib
import types
from typing import Mapping

from keras_airn.network.model import VGGSOUND_CLASSES
from keras_airn.network.profile import RELEASE_INPUT

AIRN = "AudioRepInceptionNeXt"
BASELINE = "baseline"


@dataclasses.dataclass(frozen=True)
class NetworkInfo:
    """What the registry knows of one network.

    Args:
        name: the registered name (lower case).
        family: `AIRN` or `BASELINE` (or a family a user registers).
        builder: "module:function" called as `function(num_classes=..., **overrides)`.
        reparameterizable: it has a deploy form (`keras_airn.network.deploy.reparameterize`).
        default_input: (frames, mel bins) it is counted and compared at.
        variable_frames: it builds with `num_frames=None` (any clip length).
        head_dropout: its builder takes `dropout` (before the classifier).
        config: the builder's fixed arguments (a preset's widths and depths).
    """

    name: str
    family: str
    builder: str
    reparameterizable: bool = False
    default_input: tuple[int, int] = RELEASE_INPUT
    variable_frames: bool = False
    head_dropout: bool = False
    config: Mapping = dataclasses.field(default_factory=dict)

    @property
    def module_name(self) -> str:
        """The module of its builder."""
        return self.builder.split(":")[0]

    @property
    def module(self):
        """The module that builds it, imported on first use."""
        return importlib.import_module(self.module_name)

    def build(self, **arguments):
        """The builder called with `config` and `arguments` (which override it)."""
        return getattr(self.module, self.builder.split(":")[1])(**{**self.config, **arguments})


_NETWORKS: dict[str, NetworkInfo] = {}


class UnknownNetworkError(ValueError):
    """A name the registry does not hold."""


def register_network(name: str, family: str, builder: str, **info) -> NetworkInfo:
    """Adds a network to the registry.

    Args:
        name: the name `create_network` takes (stored lower case).
        family, builder, **info: the `NetworkInfo` fields.

    Returns:
        Its `NetworkInfo`.
    """
    key = name.lower()
    if key in _NETWORKS:
        raise ValueError(f"A network named {key!r} is registered already.")
    config = types.MappingProxyType(dict(info.pop("config", {})))
    _NETWORKS[key] = NetworkInfo(key, family, builder, config=config, **info)
    return _NETWORKS[key]


def list_networks(family: str | None = None) -> list[str]:
    """Registered names, in registration order (presets first), optionally of one family."""
    return [name for name, info in _NETWORKS.items() if family in (None, info.family)]


def network_info(name: str) -> NetworkInfo:
    """The `NetworkInfo` of `name` (any case).

    Raises:
        UnknownNetworkError: `name` is not registered; the message lists what is.
    """
    key = name.lower() if isinstance(name, str) else name
    if key not in _NETWORKS:
        raise UnknownNetworkError(f"Unknown network {name!r}; choose one of {', '.join(list_networks())}.")
    return _NETWORKS[key]


def create_network(name: str, num_classes: int = VGGSOUND_CLASSES, **overrides):
    """Builds a registered network with random weights.

    Args:
        name: one of `list_networks()`.
        num_classes: output logits.
        **overrides: builder arguments, e.g. `num_frames`, `num_mel_bins`; for AudioRepInceptionNeXt
            any of its arguments (`kernel_sizes=`, `deploy=True`, ...).

    Returns:
        A `keras.Model` from log-mel (batch, T, F, 1) to logits.
    """
    info = network_info(name)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}.")
    if info.family == AIRN:
        overrides.setdefault("name", f"airn_{info.name}")
    return info.build(num_classes=num_classes, **overrides)


def sized_for(name: str, num_frames: int, num_mel_bins: int, dropout: float | None = None) -> dict:
    """`create_network` arguments for a front-end's log-mel: its frames unless the network takes any
    length, its mel bins, and `dropout` where the network has it."""
    info = network_info(name)
    arguments = {"num_frames": None if info.variable_frames else num_frames, "num_mel_bins": num_mel_bins}
    if info.head_dropout and dropout is not None:
        arguments["dropout"] = dropout
    return arguments


_AIRN_BUILDER = "keras_airn.network.model:AudioRepInceptionNeXt"
_TABLE_I = dict(stem_width=64, stage_widths=(64, 128, 256, 512), depths=(3, 4, 6, 3), expansion=4)
# Table I of the paper; "b1_2d" is the paper's AudioRepInceptionNeXt-B1 (2D).
for _name, _config in (("b0", dict(_TABLE_I, stem_width=32, stage_widths=(32, 64, 128, 256))),
                       ("b1", _TABLE_I), ("b1_2d", dict(_TABLE_I, mixing="2d"))):
    register_network(_name, AIRN, _AIRN_BUILDER, reparameterizable=True, variable_frames=True,
                     head_dropout=True, config=_config)
# Table V's baselines and today's peers: name -> module of keras_airn.network.baselines.
for _name, _module in (("bcresnet8", "bcresnet"), ("bn_inception_v1", "bn_inception"), ("slowfast", "slowfast"),
                       ("replknet31t", "replknet"), ("resnet50", "resnet"), ("inceptionnext_tiny", "inceptionnext"),
                       ("efficientat_mn10", "efficientat"), ("yamnet", "yamnet")):
    register_network(_name, BASELINE, f"keras_airn.network.baselines.{_module}:{_name}")
del _name, _config, _module


def registered() -> Mapping[str, NetworkInfo]:
    """The whole table, read-only: {name: NetworkInfo}."""
    return types.MappingProxyType(_NETWORKS)


__all__ = ["AIRN", "BASELINE", "NetworkInfo", "UnknownNetworkError", "create_network", "list_networks",
           "network_info", "register_network", "registered", "sized_for"]
