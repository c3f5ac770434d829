"""Loading saved models: the one place that picks a loader by file extension.

A model can be saved as a `.keras` file (a network in any form, or a whole `AudioClassifier`),
as an official `.pyth` checkpoint, or inside a folder: a preset (`save_to_preset`) or a
training run.
"""

from __future__ import annotations

import os

import keras

from keras_airn.deploy import reparameterize
from keras_airn.errors import KerasAirnError
from keras_airn.model import AudioRepInceptionNeXt

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


def load_saved(path: str):
    """Loads what a model file holds: an `AudioRepInceptionNeXt` or an `AudioClassifier`.

    Args:
        path: a `.keras` file or an official `.pyth` checkpoint (needs torch).
    """
    extension = os.path.splitext(path)[1].lower()
    if extension in OFFICIAL_EXTENSIONS:
        from keras_airn.checkpoint import load_official_checkpoint

        return load_official_checkpoint(path)
    if extension != ".keras":
        raise ModelFileError(f"{path!r}: expected a .keras file or an official .pyth checkpoint.")
    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as error:  # Keras raises several types for a bad archive.
        raise ModelFileError(f"{path!r} is not a readable .keras model: {error}") from error
    if not isinstance(model, AudioRepInceptionNeXt) and not isinstance(getattr(model, "network", None),
                                                                      AudioRepInceptionNeXt):
        raise ModelFileError(f"{path!r} holds a {type(model).__name__}, not an AudioRepInceptionNeXt.")
    return model


def load_model(path: str) -> AudioRepInceptionNeXt:
    """Loads a network in the form it was stored in (no re-parameterisation).

    Args:
        path: a `.keras` file (any form, or a saved `AudioClassifier`), an official `.pyth`
            checkpoint, or a preset / training-run folder.

    Returns:
        The `AudioRepInceptionNeXt`, uncompiled.
    """
    model = load_saved(model_file(path))
    return model if isinstance(model, AudioRepInceptionNeXt) else model.network


def load_deploy(path: str, fold_identity: bool = True) -> AudioRepInceptionNeXt:
    """Loads a network for inference, re-parameterising it if it is in train form.

    Args:
        path: as `load_model`.
        fold_identity: passed to `reparameterize` when a train form is merged on load.

    Returns:
        A deploy-form `AudioRepInceptionNeXt`.
    """
    model = load_model(path)
    if model.deploy:
        return model
    return reparameterize(model, fold_identity=fold_identity)
