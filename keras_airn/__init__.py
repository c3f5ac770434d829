"""keras_airn: AudioRepInceptionNeXt for Keras 3 and TensorFlow Lite."""

from keras_airn.deploy import load_deploy, load_model, reparameterize
from keras_airn.factory import ABLATION_KERNEL_SETS, PRESETS, create_model
from keras_airn.layers import MultiScaleDepthwiseMixer
from keras_airn.model import AudioRepInceptionNeXt
from keras_airn.profile import profile

__all__ = [
    "ABLATION_KERNEL_SETS",
    "AudioRepInceptionNeXt",
    "MultiScaleDepthwiseMixer",
    "PRESETS",
    "create_model",
    "load_deploy",
    "load_model",
    "load_official_checkpoint",
    "profile",
    "reparameterize",
    "save_official_checkpoint",
]


def __getattr__(name):
    # Checkpoint import needs torch (the `torch` extra); load it only when asked for.
    if name in ("load_official_checkpoint", "save_official_checkpoint"):
        from keras_airn import checkpoint

        return getattr(checkpoint, name)
    raise AttributeError(f"module 'keras_airn' has no attribute {name!r}")
