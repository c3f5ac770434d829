"""Loading saved models: the one place that picks a loader by file extension.

A model can be saved as a `.keras` file (a network in any form, or a whole `AudioClassifier`),
as an official `.pyth` checkpoint, or inside a folder: a preset (`save_to_preset`) or a
training run.
"""

from __future__ import annotations

import os

import keras

from keras_airn.network.deploy import in_train_form, reparameterize
from keras_airn.errors import KerasAirnError
from keras_airn.network.model import AudioRepInceptionNeXt

OFFICIAL_EXTENSIONS = (".pyth", ".pth", ".pt")
PRESET_FILE = "audio_classifier.keras"
# A training run's folder (train.vggsound, train.finetune, AudioClassifier.fit) holds these.
RUN_MODEL_FILES = ("model_train.keras", "model_deploy.keras")


class ModelFileError(KerasAirnError):
    """A file that is not a model this project reads."""


def model_file(path: str) -> str:
    """The model file of `path`: the file itself, or the saved model inside a preset or run folder."""
    if os.path.isdir(path):
        for name in (PRESET_FILE, *RUN_MODEL_FILES):
            if os.path.isfile(os.path.join(path, name)):
                return os.path.join(path, name)
        raise FileNotFoundError(f"{path}: no {PRESET_FILE} or {' / '.join(RUN_MODEL_FILES)} in this folder.")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No model file at {path!r}.")
    return path


def network_shape(network) -> tuple[int | None, int, int] | None:
    """(frames or None, mel bins, classes) of a network from log-mel (batch, T, F, 1) to logits
    (an `AudioRepInceptionNeXt` or a `keras_airn.network.baselines` network); None for another model."""
    inputs, outputs = getattr(network, "inputs", None), getattr(network, "outputs", None)
    if (not isinstance(network, keras.Model) or not inputs or not outputs or len(inputs) != 1
            or len(outputs) != 1 or len(inputs[0].shape) != 4 or inputs[0].shape[-1] != 1
            or len(outputs[0].shape) != 2):
        return None
    return inputs[0].shape[1], inputs[0].shape[2], outputs[0].shape[1]


def read_keras(path: str, compile: bool = False):
    """`keras.saving.load_model` in safe mode (a Lambda layer's code is refused, never run), its
    failures one `ModelFileError` line naming the file.

    Args:
        path: a `.keras` file.
        compile: also restore the optimizer (a run's checkpoint).
    """
    import zipfile

    if os.path.isfile(path) and not zipfile.is_zipfile(path):  # Keras would call it "File not found"
        raise ModelFileError(f"{path!r} is not a readable .keras model: not a zip archive (truncated, or "
                             f"another kind of file).")
    try:
        return keras.saving.load_model(path, compile=compile, safe_mode=True)
    except Exception as error:  # Keras raises several types for a bad or unsafe archive.
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ModelFileError(f"{path!r} is not a readable .keras model: {reason}") from error


def load_saved(path: str):
    """Loads what a model file holds: an `AudioRepInceptionNeXt`, a baseline network (log-mel to
    logits, `keras_airn.network.baselines`) or an `AudioClassifier`.

    Args:
        path: a `.keras` file or an official `.pyth` checkpoint (needs torch).
    """
    extension = os.path.splitext(path)[1].lower()
    if extension in OFFICIAL_EXTENSIONS:
        from keras_airn.network.checkpoint import load_official_checkpoint

        return load_official_checkpoint(path)
    if extension != ".keras":
        raise ModelFileError(f"{path!r}: expected a .keras file or an official .pyth checkpoint.")
    model = read_keras(path, compile=False)
    if network_shape(getattr(model, "network", model)) is None:
        raise ModelFileError(f"{path!r} holds a {type(model).__name__}, not an AudioRepInceptionNeXt or another "
                             f"network from log-mel to logits.")
    return model


def load_model(path: str) -> AudioRepInceptionNeXt:
    """Loads a network in the form it was stored in (no re-parameterisation).

    Args:
        path: a `.keras` file (any form, or a saved `AudioClassifier`), an official `.pyth`
            checkpoint, or a preset / training-run folder.

    Returns:
        The `AudioRepInceptionNeXt` (or baseline network), uncompiled.
    """
    model = load_saved(model_file(path))
    return getattr(model, "network", model)


def load_deploy(path: str, fold_identity: bool = True) -> AudioRepInceptionNeXt:
    """Loads a network for inference, re-parameterising it if it is in train form.

    Args:
        path: as `load_model`.
        fold_identity: passed to `reparameterize` when a train form is merged on load.

    Returns:
        A deploy-form `AudioRepInceptionNeXt` (a baseline network as it is).
    """
    model = load_model(path)
    return reparameterize(model, fold_identity=fold_identity) if in_train_form(model) else model
