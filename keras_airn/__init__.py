"""keras_airn: AudioRepInceptionNeXt for Keras 3 and TensorFlow Lite.

The library floor: the network and its layers, re-parameterisation, model loading (including
the official checkpoints), the log-mel front-end, audio reading, datasets, training, export and
runtimes. `AudioClassifier` ties them into one object from waveform to device model.
"""

from keras_airn import tf_env

tf_env.configure()  # before anything below imports TensorFlow

from keras_airn.audio import AudioError, read_audio
from keras_airn.datasets import DatasetError, Example, Split, read_csv, read_folder
from keras_airn.deploy import reparameterize
from keras_airn.factory import ABLATION_KERNEL_SETS, PRESETS, create_model
from keras_airn.features import FRONT_ENDS, FrontEnd
from keras_airn.labels import load_labels, save_labels
from keras_airn.layers import MultiScaleDepthwiseMixer
from keras_airn.loading import load_deploy, load_model
from keras_airn.model import AudioRepInceptionNeXt
from keras_airn.personalise import Head, HeadError, TrainableModel
from keras_airn.profile import profile
from keras_airn.task import AudioClassifier
from keras_airn.training.optimizer import TorchSGD  # also registers it: checkpoints hold one

__all__ = [
    "ABLATION_KERNEL_SETS",
    "AudioClassifier",
    "AudioError",
    "AudioRepInceptionNeXt",
    "DatasetError",
    "Example",
    "FRONT_ENDS",
    "FrontEnd",
    "Head",
    "HeadError",
    "MultiScaleDepthwiseMixer",
    "PRESETS",
    "Split",
    "TorchSGD",
    "TrainableModel",
    "create_model",
    "load_deploy",
    "load_labels",
    "load_model",
    "load_official_checkpoint",
    "profile",
    "read_audio",
    "read_csv",
    "read_folder",
    "reparameterize",
    "save_labels",
    "save_official_checkpoint",
]


def __getattr__(name):
    # Checkpoint import needs torch (the `torch` extra); load it only when asked for.
    if name in ("load_official_checkpoint", "save_official_checkpoint"):
        from keras_airn import checkpoint

        return getattr(checkpoint, name)
    raise AttributeError(f"module 'keras_airn' has no attribute {name!r}")
