"""SGD as the release's `torch.optim.SGD(momentum=0.9, nesterov=True, weight_decay=1e-4)` computes it.

Keras's `SGD` differs in two ways that change the trajectory (docs/reference.md, training):
its weight decay is decoupled (`w -= lr * wd * w`), while PyTorch adds `wd * w` to the gradient
before the momentum buffer (with momentum 0.9 the steady-state decay is about ten times
larger); and Keras folds the learning rate into the velocity (`v = m * v - lr * g`), PyTorch
does not (`b = m * b + g; w -= lr * b`), so the two part after every learning-rate step.
"""

from __future__ import annotations

import re

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_airn")
class TorchSGD(keras.optimizers.Optimizer):
    """`torch.optim.SGD` (dampening 0) with coupled L2 weight decay.

    Each step, for a variable `w` with gradient `g`:
    `g += weight_decay * w` (unless the variable's name matches `no_decay`),
    `b = momentum * b + g`, then `w -= lr * b`, or with Nesterov `w -= lr * (g + momentum * b)`.

    Args:
        learning_rate: float or `keras.optimizers.schedules.LearningRateSchedule`.
        momentum: momentum factor (0: plain SGD).
        nesterov: Nesterov momentum.
        weight_decay: L2 factor added to the gradient.
        no_decay: regular expressions; variables whose name matches one get no weight decay.
        **kwargs: `keras.optimizers.Optimizer` arguments (name, clipnorm, ...).

    Example:
    >>> optimizer = TorchSGD(0.01, momentum=0.9, nesterov=True, weight_decay=1e-4, no_decay=("gamma", "beta"))
    """

    def __init__(self, learning_rate=0.01, momentum=0.9, weight_decay=0.0, no_decay=(), name="torch_sgd",
                 nesterov=False, **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1); got {momentum}.")
        if nesterov and not momentum:
            raise ValueError("Nesterov momentum needs a momentum above 0.")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.l2 = float(weight_decay)
        self.no_decay = tuple(no_decay)

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self.momentums = [self.add_variable_from_reference(v, "momentum") for v in variables] if self.momentum else []

    def _decays(self, variable) -> bool:
        return self.l2 > 0 and not any(re.search(pattern, variable.name) for pattern in self.no_decay)

    def update_step(self, gradient, variable, learning_rate):
        learning_rate = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        if self._decays(variable):
            gradient = ops.add(gradient, ops.multiply(ops.cast(self.l2, variable.dtype), variable))
        if self.momentum:
            buffer = self.momentums[self._get_variable_index(variable)]
            momentum = ops.cast(self.momentum, variable.dtype)
            self.assign(buffer, ops.add(ops.multiply(momentum, buffer), gradient))
            gradient = ops.add(gradient, ops.multiply(momentum, buffer)) if self.nesterov else buffer
        self.assign_sub(variable, ops.multiply(learning_rate, gradient))

    def get_config(self):
        config = super().get_config()
        config.update(momentum=self.momentum, nesterov=self.nesterov, weight_decay=self.l2,
                      no_decay=list(self.no_decay))
        return config
