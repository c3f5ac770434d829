"""Shared test utilities."""

from __future__ import annotations

import numpy as np

# A network of the real architecture small enough to train in seconds: one block per stage.
TINY = dict(stem_width=8, stage_widths=(8, 16, 32, 64), depths=(1, 1, 1, 1), expansion=2)


def randomize_batchnorm(model, seed: int = 0):
    """Gives every BatchNorm random gamma, beta and moving statistics (not the initial ones).

    Args:
        model: a Keras model.
        seed: RNG seed.

    Returns:
        The same model.
    """
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        path = weight.path
        if path.endswith(("gamma", "moving_variance")):
            low, high = (0.1, 0.3) if "_d_bn" in path else (0.5, 1.5)
            weight.assign(rng.uniform(low, high, weight.shape).astype(np.float32))
        elif path.endswith(("beta", "moving_mean")):
            weight.assign(rng.normal(0.0, 0.2, weight.shape).astype(np.float32))
    return model


def max_relative_error(actual, expected) -> float:
    """max |actual - expected| / max |expected|."""
    actual = np.asarray(actual, np.float64)
    expected = np.asarray(expected, np.float64)
    return float(np.abs(actual - expected).max() / np.abs(expected).max())


def random_log_mel(batch: int, frames: int, bins: int = 128, seed: int = 0) -> np.ndarray:
    """A random (batch, frames, bins, 1) float32 input in the range of log-mel values."""
    rng = np.random.default_rng(seed)
    return rng.normal(-4.0, 2.0, size=(batch, frames, bins, 1)).astype(np.float32)


def tiny_model_folder(root, front_end, labels=("a", "b", "c", "d"), seed: int = 3) -> dict:
    """A TINY B0 with random BatchNorm saved as `root/model.keras`, `labels.json` and
    `front_end.json` beside it, and 3.3 s of noise at 16 kHz as `root/long.flac`.

    Returns:
        {"model", "keras" (its path), "audio" (the recording's path), "root"}.
    """
    import json

    import soundfile

    import keras_airn as ka

    model = randomize_batchnorm(ka.create_model("b0", num_classes=len(labels), **TINY), seed=seed)
    keras_path = str(root / "model.keras")
    model.save(keras_path)
    (root / "labels.json").write_text(json.dumps(list(labels)))
    (root / "front_end.json").write_text(json.dumps(front_end.to_config()))
    audio = np.random.default_rng(0).uniform(-0.4, 0.4, int(3.3 * 16000)).astype(np.float32)
    soundfile.write(str(root / "long.flac"), audio, 16000)
    return {"model": model, "keras": keras_path, "audio": str(root / "long.flac"), "root": root}
