"""Re-parameterisation: train form -> deploy form with merged weights (SPEC.md section 3)."""

from __future__ import annotations

import os

import keras

from keras_airn.layers import MultiScaleDepthwiseMixer, fold_batchnorm
from keras_airn.model import AudioRepInceptionNeXt, batchnorm_name


def transfer_weights(
    source: AudioRepInceptionNeXt, target: AudioRepInceptionNeXt, skip: tuple[str, ...] = ()
) -> None:
    """Copies weights from `source` into `target`, merging where `target` is more merged.

    Mixers are merged into one kernel, BatchNorms folded into the conv before them and the
    identity folded into the centre tap, as far as `target`'s form asks. Going the other way
    (un-merging) is impossible and raises.

    Args:
        source: a model of any form.
        target: a model of the same architecture, of the same or a more merged form.
        skip: names of layers to leave as they are (e.g. a new classifier head).
    """
    if source.deploy and not target.deploy:
        raise ValueError("Cannot turn a deploy-form model back into the train form.")
    if source.fold_batchnorm and not target.fold_batchnorm:
        raise ValueError("Cannot un-fold BatchNorm: the source model has none left.")
    for layer in target.layers:
        if not layer.weights or layer.name in skip:
            continue
        src = source.get_layer(layer.name)
        if isinstance(layer, MultiScaleDepthwiseMixer):
            if layer.deploy:
                kernel, bias = src.merged_weights()
                layer.set_merged_weights(kernel, bias, identity_in_kernel=src.fold_identity)
            else:
                layer.set_weights(src.get_weights())
        elif isinstance(layer, keras.layers.Conv2D) and layer.use_bias and not src.use_bias:
            bn = source.get_layer(batchnorm_name(layer.name))
            gamma, beta, mean, variance = bn.get_weights()
            kernel, bias = fold_batchnorm(
                src.get_weights()[0], gamma, beta, mean, variance, bn.epsilon, out_axis=3
            )
            layer.set_weights([kernel, bias])
        else:
            layer.set_weights(src.get_weights())


def reparameterize(
    model: AudioRepInceptionNeXt, fold_identity: bool = True, fold_batchnorm: bool = True
) -> AudioRepInceptionNeXt:
    """Builds the deploy form of `model` with merged weights; `model` is left untouched.

    Args:
        model: an `AudioRepInceptionNeXt` in any form.
        fold_identity: fold each mixer's identity into its centre tap (no add left). False keeps
            the release's `conv + identity` structure.
        fold_batchnorm: fold every BatchNorm into the conv before it. False gives exactly the
            release's deploy structure (only the mixers merged).

    Returns:
        A new deploy-form `AudioRepInceptionNeXt` computing the same function in inference.

    Example:
    >>> deploy_model = reparameterize(create_model("b0"))
    """
    if not isinstance(model, AudioRepInceptionNeXt):
        raise TypeError(f"reparameterize needs an AudioRepInceptionNeXt, got {type(model).__name__}.")
    config = model.get_config()
    config.update(
        deploy=True,
        fold_batchnorm=fold_batchnorm or model.fold_batchnorm,
        fold_identity=(fold_identity or model.fold_identity) and model.use_identity,
    )
    deploy_model = AudioRepInceptionNeXt.from_config(config)
    transfer_weights(model, deploy_model)
    return deploy_model


def load_model(path: str) -> AudioRepInceptionNeXt:
    """Loads a model in the form it was stored in (no re-parameterisation).

    Args:
        path: a `.keras` file (any form) or an official `.pyth` checkpoint (needs torch).

    Returns:
        The `AudioRepInceptionNeXt`, uncompiled.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No model file at {path!r}.")
    extension = os.path.splitext(path)[1].lower()
    if extension in (".pyth", ".pth", ".pt"):
        from keras_airn.checkpoint import load_official_checkpoint

        return load_official_checkpoint(path)
    if extension != ".keras":
        raise ValueError(f"{path!r}: expected a .keras file or an official .pyth checkpoint.")
    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as error:  # Keras raises several types for a bad archive.
        raise ValueError(f"{path!r} is not a readable .keras model: {error}") from error
    if not isinstance(model, AudioRepInceptionNeXt):
        raise ValueError(f"{path!r} holds a {type(model).__name__}, not an AudioRepInceptionNeXt.")
    return model


def load_deploy(path: str, fold_identity: bool = True) -> AudioRepInceptionNeXt:
    """Loads a model for inference, re-parameterising it if it is in train form.

    Args:
        path: a `.keras` file (deploy or train form) or an official `.pyth` checkpoint.
        fold_identity: passed to `reparameterize` when a train form is merged on load.

    Returns:
        A deploy-form `AudioRepInceptionNeXt`.
    """
    model = load_model(path)
    if model.deploy:
        return model
    return reparameterize(model, fold_identity=fold_identity)
