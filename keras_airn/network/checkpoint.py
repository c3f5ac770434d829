"""Import and export of the official PyTorch checkpoints (`.pyth`, docs/reference.md section 4).

One table, `official_tensor_map`, maps each official state-dict key to a Keras variable and its
layout; loading and saving both use it. Needs the `torch` extra.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections import defaultdict

import numpy as np

from keras_airn import files
from keras_airn.network.deploy import reparameterize
from keras_airn.errors import KerasAirnError
from keras_airn.network.layers import MultiScaleDepthwiseMixer
from keras_airn.network.model import STAGE_NUMBERS, AudioRepInceptionNeXt

# Official names of the branches other than the largest one.
BRANCH_SUFFIX = {11: "_medium", 3: "_small"}
BN_STATS = (("weight", 0), ("bias", 1), ("running_mean", 2), ("running_var", 3))
DERIVED_KEY_SUFFIXES = ("num_batches_tracked",)


class CheckpointError(KerasAirnError):
    """A file is not a readable official checkpoint."""


class CheckpointMismatchError(CheckpointError):
    """A checkpoint's tensors do not fit the model (missing, unexpected or mis-shaped keys)."""


@dataclasses.dataclass
class _Tensor:
    """Where an official tensor lives in Keras: a variable, and how its layout differs."""

    variable: object
    layout: str  # "conv", "depthwise", "dense" or "vector"

    def torch_shape(self) -> tuple[int, ...]:
        return tuple(_to_torch(np.zeros(self.variable.shape, np.float32), self.layout).shape)


def _to_torch(array: np.ndarray, layout: str) -> np.ndarray:
    if layout == "conv":  # (kT, kF, in, out) -> (out, in, kT, kF)
        return array.transpose(3, 2, 0, 1)
    if layout == "depthwise":  # (kT, kF, C, 1) -> (C, 1, kT, kF)
        return array.transpose(2, 3, 0, 1)
    if layout == "dense":  # (in, out) -> (out, in)
        return array.T
    return array


def _to_keras(array: np.ndarray, layout: str) -> np.ndarray:
    if layout == "conv":
        return array.transpose(2, 3, 1, 0)
    if layout == "depthwise":
        return array.transpose(2, 3, 0, 1)
    if layout == "dense":
        return array.T
    return array


def official_prefix(layer_name: str) -> str:
    """Maps a Keras layer name to its official state-dict prefix.

    Args:
        layer_name: e.g. "s3_res0_a_head_bn", "s1_stem_conv", "head_projection".

    Returns:
        e.g. "s3.pathway0_res0.branch2.a_head_bn".
    """
    if layer_name == "head_projection":
        return "head.projection"
    stem = re.fullmatch(r"s1_stem_(conv|bn)", layer_name)
    if stem:
        return f"s1.pathway0_stem.{stem.group(1)}"
    block = re.fullmatch(r"s(\d)_res(\d+)_(.+)", layer_name)
    if not block:
        raise ValueError(f"Layer {layer_name!r} has no official counterpart.")
    stage, index, rest = block.groups()
    if rest.startswith("branch1"):
        return f"s{stage}.pathway0_res{index}.{rest}"
    return f"s{stage}.pathway0_res{index}.branch2.{rest}"


def _branch_names(letter: str, kernel_sizes: tuple[int, ...]) -> list[tuple[str, str]]:
    """Official (conv, bn) names of a mixer's branches, largest kernel first."""
    names = [(letter, f"{letter}_bn")]
    for k in kernel_sizes[1:]:
        if k not in BRANCH_SUFFIX:
            raise ValueError(
                f"Kernel set {kernel_sizes} has no official checkpoint layout: the release names "
                f"only the largest branch and branches of 11 and 3 taps."
            )
        names.append((f"{letter}{BRANCH_SUFFIX[k]}", f"{letter}_bn{BRANCH_SUFFIX[k]}"))
    return names


def official_tensor_map(model: AudioRepInceptionNeXt) -> dict[str, _Tensor]:
    """Maps every official state-dict key of `model`'s form to its Keras variable.

    Args:
        model: a train-form or release-deploy-form model (folded BatchNorms have no official
            layout).

    Returns:
        {official key: _Tensor}, without the derived `num_batches_tracked` entries.
    """
    if model.fold_batchnorm:
        raise ValueError(
            "A model with folded BatchNorm has no official checkpoint layout; use the train form "
            "or reparameterize(model, fold_identity=False, fold_batchnorm=False)."
        )
    tensors: dict[str, _Tensor] = {}

    def add_bn(prefix, bn):
        for stat, index in BN_STATS:
            tensors[f"{prefix}.{stat}"] = _Tensor(bn.weights[index], "vector")

    for layer in model.layers:
        if not layer.weights:
            continue
        prefix = official_prefix(layer.name)
        if isinstance(layer, MultiScaleDepthwiseMixer):
            block, letter = prefix.rsplit(".", 1)
            if layer.deploy:
                tensors[f"{block}.{letter}_reparam.weight"] = _Tensor(layer.merged.kernel, "depthwise")
                tensors[f"{block}.{letter}_reparam.bias"] = _Tensor(layer.merged.bias, "vector")
                continue
            names = _branch_names(letter, layer.kernel_sizes)
            for (conv_name, bn_name), conv, bn in zip(names, layer.branch_convs, layer.branch_bns):
                tensors[f"{block}.{conv_name}.weight"] = _Tensor(conv.kernel, "depthwise")
                add_bn(f"{block}.{bn_name}", bn)
        elif layer.__class__.__name__ == "BatchNormalization":
            add_bn(prefix, layer)
        elif layer.__class__.__name__ == "Conv2D":
            tensors[f"{prefix}.weight"] = _Tensor(layer.kernel, "conv")
        elif layer.__class__.__name__ == "Dense":
            tensors[f"{prefix}.weight"] = _Tensor(layer.kernel, "dense")
            tensors[f"{prefix}.bias"] = _Tensor(layer.bias, "vector")
        else:
            raise ValueError(f"Layer {layer.name!r} ({type(layer).__name__}) is not mapped.")
    return tensors


def _pickled_code(path: str) -> list[str] | None:
    """The functions and classes a plain pickle file names (read, never run), or None where it
    names none or is not a whole pickle (a torch.save zip archive, a truncated or other file)."""
    import pickletools

    with open(path, "rb") as handle:
        data = handle.read()
    if not data.startswith(b"\x80"):  # a pickle starts with its protocol (torch.save: a zip)
        return None
    names, strings = [], []
    try:
        for op, arg, _ in pickletools.genops(data):
            if op.name == "GLOBAL":
                names.append(arg.replace(" ", "."))
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                names.append(".".join(strings[-2:]))
            elif isinstance(arg, str):
                strings.append(arg)
    except Exception:  # truncated or not a pickle
        return None
    return list(dict.fromkeys(names)) or None  # none: torch's reader refused it for another reason


def read_state_dict(path: str) -> dict[str, np.ndarray]:
    """Reads an official checkpoint into {key: float array}.

    Args:
        path: a `torch.save` file holding {"model_state": state_dict} (or a bare state dict).

    Returns:
        The state dict as numpy arrays, `module.` prefixes removed.
    """
    import torch

    if not os.path.isfile(path):
        raise FileNotFoundError(f"No checkpoint file at {path!r}.")
    try:
        # weights_only: never run pickled code from a downloaded file.
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises RuntimeError, UnpicklingError, EOFError, ...
        code = _pickled_code(path)
        if code is not None:
            raise CheckpointError(
                f"{path!r} is a pickle naming code ({', '.join(code)}), not a torch.save "
                f"checkpoint: refused (only tensors are read; pickled code is never run)."
            ) from error
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise CheckpointError(
            f"{path!r} is not a readable PyTorch checkpoint (truncated or not a torch.save "
            f"file): {reason}"
        ) from error
    state = payload.get("model_state", payload) if isinstance(payload, dict) else None
    if not isinstance(state, dict) or not any(
        isinstance(v, torch.Tensor) for v in state.values()
    ):
        raise CheckpointError(
            f"{path!r} is a torch file but not an official checkpoint: expected a dict with a "
            f"'model_state' state dict."
        )
    return {
        key.removeprefix("module."): value.detach().cpu().numpy()
        for key, value in state.items()
        if isinstance(value, torch.Tensor)
    }


def infer_config(state: dict[str, np.ndarray]) -> dict:
    """Infers the `AudioRepInceptionNeXt` arguments from an official state dict's shapes.

    Args:
        state: {key: array} as returned by `read_state_dict`.

    Returns:
        Keyword arguments for `AudioRepInceptionNeXt` (without num_mel_bins / num_frames).
    """
    required = ("s1.pathway0_stem.conv.weight", "head.projection.weight")
    missing = [key for key in required if key not in state]
    if missing:
        raise CheckpointMismatchError(
            f"Not an AudioRepInceptionNeXt checkpoint: missing {missing} "
            f"(found e.g. {sorted(state)[:5]})."
        )
    stem = state["s1.pathway0_stem.conv.weight"]
    if stem.shape[1:] != (1, 5, 7):
        raise CheckpointMismatchError(
            f"s1.pathway0_stem.conv.weight has shape {stem.shape}; expected (C1, 1, 5, 7)."
        )
    depths, widths = _stage_shapes(state)
    first = "s2.pathway0_res0.branch2."
    expand = state.get(first + "c.weight")
    expansion = int(expand.shape[0] // widths[0]) if expand is not None else 0
    deploy, sizes, mixing = _mixer_shape(state, first)
    return dict(
        num_classes=int(state["head.projection.weight"].shape[0]),
        stem_width=int(stem.shape[0]),
        stage_widths=widths,
        depths=depths,
        expansion=expansion,
        kernel_sizes=sizes,
        mixing=mixing,
        use_identity=True,
        deploy=deploy,
    )


def _stage_shapes(state) -> tuple[list[int], list[int]]:
    """(blocks per stage, channels per stage) of stages 2-5, from the block keys and 1x1 heads."""
    blocks = defaultdict(set)
    for key in state:
        match = re.match(r"s(\d)\.pathway0_res(\d+)\.", key)
        if match:
            blocks[int(match.group(1))].add(int(match.group(2)))
    if sorted(blocks) != list(STAGE_NUMBERS):
        raise CheckpointMismatchError(
            f"Expected blocks in stages {list(STAGE_NUMBERS)}; found stages {sorted(blocks)}."
        )
    depths, widths = [], []
    for stage in STAGE_NUMBERS:
        depths.append(max(blocks[stage]) + 1)
        head = state.get(f"s{stage}.pathway0_res0.branch2.a_head.weight")
        if head is None:
            raise CheckpointMismatchError(f"Missing s{stage}.pathway0_res0.branch2.a_head.weight.")
        widths.append(int(head.shape[0]))
    return depths, widths


def _mixer_shape(state, first: str) -> tuple[bool, list[int], str]:
    """(deploy form?, the branches' kernel sizes, "separable" or "2d") from the first block's mixer."""
    if first + "a.weight" in state:
        deploy = False
        largest = state[first + "a.weight"]
        sizes = [int(max(largest.shape[2:]))]
        for suffix in BRANCH_SUFFIX.values():
            branch = state.get(f"{first}a{suffix}.weight")
            if branch is not None:
                sizes.append(int(max(branch.shape[2:])))
    elif first + "a_reparam.weight" in state:
        deploy = True
        largest = state[first + "a_reparam.weight"]
        sizes = [int(max(largest.shape[2:]))]  # the deploy form keeps only the merged size
    else:
        raise CheckpointMismatchError(f"Missing {first}a.weight (train) or {first}a_reparam.weight (deploy).")
    kernel_t, kernel_f = largest.shape[2:]
    if kernel_t > 1 and kernel_f > 1:
        mixing = "2d"
    elif kernel_f == 1:
        mixing = "separable"
    else:
        raise CheckpointMismatchError(f"{first}a has shape {largest.shape}: not a time or 2D kernel.")
    return deploy, sizes, mixing

def assign_state_dict(model: AudioRepInceptionNeXt, state: dict[str, np.ndarray]) -> None:
    """Assigns an official state dict to `model`, checking every key and shape first.

    Args:
        model: a train-form or release-deploy-form model.
        state: {key: array}.

    Raises:
        CheckpointMismatchError: listing missing, unexpected and mis-shaped keys.
    """
    tensors = official_tensor_map(model)
    ignorable = {k for k in state if k.endswith(DERIVED_KEY_SUFFIXES)}
    if not model.deploy:
        # Checkpoints trained with the release's merge_mode also carry the merged kernels.
        ignorable |= {k for k in state if re.search(r"\.[ab]_reparam\.", k)}
    missing = sorted(set(tensors) - set(state))
    unexpected = sorted(set(state) - set(tensors) - ignorable)
    misshaped = [
        f"{key}: checkpoint {tuple(state[key].shape)}, model {tensor.torch_shape()}"
        for key, tensor in tensors.items()
        if key in state and tuple(state[key].shape) != tensor.torch_shape()
    ]
    if missing or unexpected or misshaped:

        def show(items):
            return ", ".join(items[:8]) + (f" ... ({len(items)} in all)" if len(items) > 8 else "")

        problems = []
        if missing:
            problems.append(f"missing keys: {show(missing)}")
        if unexpected:
            problems.append(f"unexpected keys: {show(unexpected)}")
        if misshaped:
            problems.append(f"mis-shaped: {show(misshaped)}")
        raise CheckpointMismatchError("Checkpoint does not fit the model; " + "; ".join(problems))
    for key, tensor in tensors.items():
        tensor.variable.assign(_to_keras(state[key].astype(np.float32), tensor.layout))


def load_official_checkpoint(
    path: str, deploy: bool = False, num_mel_bins: int = 128, num_frames: int | None = None
) -> AudioRepInceptionNeXt:
    """Builds the model an official `.pyth` checkpoint describes and loads its weights.

    Widths, depths, expansion, kernel sizes, 2D or separable mixing, number of classes and the
    checkpoint's form (train, or the release's deploy form with `a_reparam`/`b_reparam`) are
    read from the tensor shapes.

    Args:
        path: the checkpoint file.
        deploy: return the fully re-parameterised deploy model instead of the checkpoint's form.
        num_mel_bins: mel bins F of the input (the checkpoint does not record them; 128 in all
            official configs).
        num_frames: fixed T, or None for variable length.

    Returns:
        An `AudioRepInceptionNeXt` with the checkpoint's weights.

    Example:
    >>> model = load_official_checkpoint("AudioRepInceptionNeXt_VGGSound.pyth")
    """
    state = read_state_dict(path)
    config = infer_config(state)
    model = AudioRepInceptionNeXt(
        **config, num_mel_bins=num_mel_bins, num_frames=num_frames, name="airn_official"
    )
    assign_state_dict(model, state)
    return reparameterize(model) if deploy else model


def save_official_checkpoint(model: AudioRepInceptionNeXt, path: str) -> None:
    """Writes `model` as an official checkpoint ({"model_state": state_dict}).

    Args:
        model: a train-form or release-deploy-form model. A deploy model with the identity
            folded is written with the identity taken out again, as the release expects.
        path: output file; written atomically.
    """
    import torch

    tensors = official_tensor_map(model)
    state = {}
    for key, tensor in tensors.items():
        array = np.asarray(tensor.variable)
        state[key] = torch.from_numpy(np.ascontiguousarray(_to_torch(array, tensor.layout)))
        if key.endswith("running_var"):
            state[key.replace("running_var", "num_batches_tracked")] = torch.tensor(0)
    for layer in model.layers:
        if isinstance(layer, MultiScaleDepthwiseMixer) and layer.fold_identity:
            key = official_prefix(layer.name).rsplit(".", 1)
            weight = state[f"{key[0]}.{key[1]}_reparam.weight"].clone()
            centre = (weight.shape[2] // 2, weight.shape[3] // 2)
            weight[:, 0, centre[0], centre[1]] -= 1.0
            state[f"{key[0]}.{key[1]}_reparam.weight"] = weight
    files.write_atomically(path, lambda target: torch.save({"model_state": state}, target))
