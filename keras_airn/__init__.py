"""keras_airn: AudioRepInceptionNeXt for Keras 3 and TensorFlow Lite.

The library floor. `AudioClassifier` (`task.py`) ties the packages into one object from
waveform to device model. Each package may import only those listed before it:

- `errors`, `files`, `tf_env`, `cli`, `machine`: plumbing every layer may use.
- `data`: audio reading, the log-mel front-end, labels, dataset readers.
- `network`: the networks (AudioRepInceptionNeXt and the baselines), their layers, presets,
  re-parameterisation, counts, saved-model and official-checkpoint loading.
- `inference`: running a model or a model file on audio: files and runtimes, windows, streams,
  on-device learning as an app drives it.
- `export`: writing model files (TFLite, ONNX, OpenVINO, trainable TFLite) and checking them
  against Keras by running them.
- `training`: the training recipe, input pipeline and loop.
- `task`: `AudioClassifier`, over all of them.
"""

import sys

from keras_airn import _moved, tf_env

tf_env.configure()  # before anything below imports TensorFlow
_moved.install()

from keras_airn.data.audio import AudioError, read_audio
from keras_airn.data.datasets import DatasetError, Example, Split, read_csv, read_folder
from keras_airn.network.deploy import reparameterize
from keras_airn.network.factory import ABLATION_KERNEL_SETS, PRESETS, create_model
from keras_airn.data.features import FRONT_ENDS, FrontEnd
from keras_airn.data.labels import load_labels, save_labels
from keras_airn.network.layers import MultiScaleDepthwiseMixer
from keras_airn.network.loading import load_deploy, load_model
from keras_airn.network.model import AudioRepInceptionNeXt
from keras_airn.inference.personalise import Head, HeadError, TrainableModel
from keras_airn.network.profile import profile
from keras_airn.network.registry import create_network, list_networks, network_info
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
    "create_network",
    "list_networks",
    "network_info",
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


_moved.keep_public_names(sys.modules[__name__])


def __getattr__(name):
    # Checkpoint import needs torch (the `torch` extra); load it only when asked for.
    if name in ("load_official_checkpoint", "save_official_checkpoint"):
        from keras_airn.network import checkpoint

        return getattr(checkpoint, name)
    if f"keras_airn.{name}" in _moved.MOVED:  # a module under its name before the regrouping
        import importlib

        return importlib.import_module(f"keras_airn.{name}")
    raise AttributeError(f"module 'keras_airn' has no attribute {name!r}")
