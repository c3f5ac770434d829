"""Named presets of AudioRepInceptionNeXt, timm-style: `create_model("b1", num_classes=...)`."""

from __future__ import annotations

from keras_airn.network.model import VGGSOUND_CLASSES, AudioRepInceptionNeXt

# Table I of the paper; "b1_2d" is the paper's AudioRepInceptionNeXt-B1 (2D).
PRESETS = {
    "b0": dict(stem_width=32, stage_widths=(32, 64, 128, 256), depths=(3, 4, 6, 3), expansion=4),
    "b1": dict(stem_width=64, stage_widths=(64, 128, 256, 512), depths=(3, 4, 6, 3), expansion=4),
    "b1_2d": dict(
        stem_width=64,
        stage_widths=(64, 128, 256, 512),
        depths=(3, 4, 6, 3),
        expansion=4,
        mixing="2d",
    ),
}

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
    """Builds a preset model.

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
    key = name.lower()
    if key not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}; choose one of {sorted(PRESETS)}.")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}.")
    config = {**PRESETS[key], "num_classes": num_classes, **overrides}
    config.setdefault("name", f"airn_{key}")
    return AudioRepInceptionNeXt(**config)
