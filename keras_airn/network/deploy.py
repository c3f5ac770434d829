"""Re-parameterisation: train form -> deploy form with merged weights (docs/reference.md, section 3).

Asked of the network, not decided by its class (timm's `reparameterize_model`): a network with
a deploy form provides `to_deploy()` and a `deploy` flag; `reparameterizable` tells whether it does.
"""

from __future__ import annotations

import keras

from keras_airn.network.layers import MultiScaleDepthwiseMixer, fold_batchnorm
from keras_airn.network.model import AudioRepInceptionNeXt, batchnorm_name


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


def reparameterizable(model) -> bool:
    """Whether `model` has a deploy form to be merged into: it provides `to_deploy()`
    (`AudioRepInceptionNeXt` does; the baselines do not)."""
    return callable(getattr(model, "to_deploy", None))


def in_train_form(model) -> bool:
    """Whether `model` is re-parameterisable and not merged yet (its `deploy` is False)."""
    return reparameterizable(model) and not model.deploy


def reparameterize(model, fold_identity: bool = True, fold_batchnorm: bool = True):
    """Builds the deploy form of `model` with merged weights (`model.to_deploy`); `model` is left untouched.

    Args:
        model: a network with a deploy form (`reparameterizable`): an `AudioRepInceptionNeXt`
            in any form.
        fold_identity: fold each mixer's identity into its centre tap (no add left). False keeps
            the release's `conv + identity` structure.
        fold_batchnorm: fold every BatchNorm into the conv before it. False gives exactly the
            release's deploy structure (only the mixers merged).

    Returns:
        A new deploy-form network computing the same function in inference.

    Example:
    >>> from keras_airn import create_model
    >>> deploy_model = reparameterize(create_model("b0"))
    >>> deploy_model.form
    'folded_identity'
    """
    if not reparameterizable(model):
        raise TypeError(f"reparameterize needs a network with a deploy form (an AudioRepInceptionNeXt), "
                        f"got {type(model).__name__}.")
    return model.to_deploy(fold_identity=fold_identity, fold_batchnorm=fold_batchnorm)
