"""`make_optimizer` is the release's `torch.optim.SGD`, step by step, across a learning-rate step:
Nesterov momentum, L2 on every parameter but BatchNorm's (slowfast/models/optimizer.py puts the
parameters named "bn" in a group of their own without decay; the head's bias is decayed)."""

import keras
import numpy as np
import torch

from keras_airn.training.optimizer import TorchSGD
from keras_airn.training.trainer import TrainConfig, make_optimizer

SHAPES = {"conv/kernel": (3, 3, 4, 8), "conv/bias": (8,), "bn/gamma": (8,), "bn/beta": (8,), "fc/kernel": (8, 5)}


def test_make_optimizer_follows_the_releases_torch_sgd():
    steps_per_epoch, epochs = 3, 4
    config = TrainConfig(learning_rate=0.1, lr_steps=(2, 3), lr_decay=0.1, momentum=0.9, weight_decay=0.05)
    rng = np.random.default_rng(0)
    initial = {name: rng.normal(size=shape).astype(np.float32) for name, shape in SHAPES.items()}
    gradients = [{name: rng.normal(size=shape).astype(np.float32) for name, shape in SHAPES.items()}
                 for _ in range(steps_per_epoch * epochs)]

    variables = {name: keras.Variable(value, name=name.split("/")[1]) for name, value in initial.items()}
    optimizer = make_optimizer(config, steps_per_epoch)

    params = {name: torch.nn.Parameter(torch.from_numpy(value.copy())) for name, value in initial.items()}
    batchnorm = [p for name, p in params.items() if name.startswith("bn/")]
    others = [p for name, p in params.items() if not name.startswith("bn/")]
    reference = torch.optim.SGD([{"params": batchnorm, "weight_decay": 0.0},
                                 {"params": others, "weight_decay": config.weight_decay}],
                                lr=config.learning_rate, momentum=config.momentum, weight_decay=config.weight_decay,
                                dampening=0.0, nesterov=True)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(reference, milestones=list(config.lr_steps),
                                                     gamma=config.lr_decay)
    worst = 0.0
    for step, grads in enumerate(gradients):
        optimizer.apply_gradients([(grads[name], variables[name]) for name in SHAPES])
        for name, p in params.items():
            p.grad = torch.from_numpy(grads[name])
        reference.step()
        if (step + 1) % steps_per_epoch == 0:
            scheduler.step()
        for name in SHAPES:
            ours, theirs = variables[name].numpy(), params[name].detach().numpy()
            worst = max(worst, float(np.abs(ours - theirs).max() / np.abs(theirs).max()))
    assert worst < 1e-6, worst
    # Nesterov mattered: heavy-ball momentum on the same gradients ends elsewhere.
    heavy_ball = keras.Variable(initial["fc/kernel"], name="kernel")
    plain_momentum = TorchSGD(0.1, momentum=0.9, weight_decay=0.05)
    nesterov = keras.Variable(initial["fc/kernel"], name="kernel")
    with_nesterov = TorchSGD(0.1, momentum=0.9, weight_decay=0.05, nesterov=True)
    for grads in gradients[:3]:
        plain_momentum.apply_gradients([(grads["fc/kernel"], heavy_ball)])
        with_nesterov.apply_gradients([(grads["fc/kernel"], nesterov)])
    assert float(np.abs(heavy_ball.numpy() - nesterov.numpy()).max()) > 1e-2
    # The weights moved in all three learning-rate phases, and decay mattered: without it they differ.
    assert float(np.abs(variables["conv/kernel"].numpy() - initial["conv/kernel"]).max()) > 0.1
    plain = keras.Variable(initial["conv/kernel"], name="kernel")
    no_l2 = TorchSGD(0.1, momentum=0.9)
    for grads in gradients[:3]:
        no_l2.apply_gradients([(grads["conv/kernel"], plain)])
    with_l2 = initial["conv/kernel"]  # the first three steps of the run above, recomputed by hand
    buffer = np.zeros_like(with_l2)
    for grads in gradients[:3]:
        buffer = 0.9 * buffer + grads["conv/kernel"] + 0.05 * with_l2
        with_l2 = with_l2 - 0.1 * buffer
    assert float(np.abs(plain.numpy() - with_l2).max()) > 1e-3


def test_torch_sgd_round_trips_through_its_config():
    optimizer = TorchSGD(0.02, momentum=0.8, weight_decay=1e-4, no_decay=("gamma",), nesterov=True)
    again = TorchSGD.from_config(optimizer.get_config())
    assert (again.momentum, again.nesterov, again.l2, again.no_decay) == (0.8, True, 1e-4, ("gamma",))
    assert again.weight_decay is None  # Keras's own decoupled decay stays off
