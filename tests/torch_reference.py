"""An independent PyTorch AudioRepInceptionNeXt, written from docs/reference.md for parity tests.

Module names reproduce the official checkpoint keys, so `state_dict()` of this model is an
official checkpoint. It shares no code with keras_airn: its outputs are the reference.
"""

from __future__ import annotations

import torch
from torch import nn

EPS = 1e-5
SUFFIX = {11: "_medium", 3: "_small"}


def _dw(channels, kernel):
    padding = (kernel[0] // 2, kernel[1] // 2)
    return nn.Conv2d(channels, channels, kernel, padding=padding, groups=channels, bias=False)


class Branch2(nn.Module):
    def __init__(self, c_in, c, stride, kernels, mixing, expansion, deploy):
        super().__init__()
        self.mixing, self.deploy, self.kernels = mixing, deploy, kernels
        self.a_head = nn.Conv2d(c_in, c, 1, stride=stride, bias=False)
        self.a_head_bn = nn.BatchNorm2d(c, eps=EPS)
        letters = ["a"] if mixing == "2d" else ["a", "b"]
        for letter in letters:
            shape = {"a": lambda k: (k, 1), "b": lambda k: (1, k)}[letter]
            if mixing == "2d":
                shape = lambda k: (k, k)  # noqa: E731
            if deploy:
                conv = _dw(c, shape(kernels[0]))
                conv.bias = nn.Parameter(torch.zeros(c))
                setattr(self, f"{letter}_reparam", conv)
                continue
            for i, k in enumerate(kernels):
                suffix = "" if i == 0 else SUFFIX[k]
                setattr(self, f"{letter}{suffix}", _dw(c, shape(k)))
                setattr(self, f"{letter}_bn{suffix}", nn.BatchNorm2d(c, eps=EPS))
        self.expansion = expansion
        if expansion:
            self.c = nn.Conv2d(c, c * expansion, 1, bias=False)
            self.c_bn = nn.BatchNorm2d(c * expansion, eps=EPS)
            self.d = nn.Conv2d(c * expansion, c, 1, bias=False)
            self.d_bn = nn.BatchNorm2d(c, eps=EPS)

    def _mix(self, letter, x):
        if self.deploy:
            return torch.relu(getattr(self, f"{letter}_reparam")(x) + x)
        total = x
        for i, k in enumerate(self.kernels):
            suffix = "" if i == 0 else SUFFIX[k]
            total = total + getattr(self, f"{letter}_bn{suffix}")(getattr(self, f"{letter}{suffix}")(x))
        return torch.relu(total)

    def forward(self, x):
        x = torch.relu(self.a_head_bn(self.a_head(x)))
        x = self._mix("a", x)
        if self.mixing != "2d":
            x = self._mix("b", x)
        if self.expansion:
            x = torch.relu(self.c_bn(self.c(x)))
            x = self.d_bn(self.d(x))
        return x


class Block(nn.Module):
    def __init__(self, c_in, c, stride, **kwargs):
        super().__init__()
        self.project = c_in != c or stride != 1
        if self.project:
            self.branch1 = nn.Conv2d(c_in, c, 1, stride=stride, bias=False)
            self.branch1_bn = nn.BatchNorm2d(c, eps=EPS)
        self.branch2 = Branch2(c_in, c, stride, **kwargs)

    def forward(self, x):
        shortcut = self.branch1_bn(self.branch1(x)) if self.project else x
        return torch.relu(shortcut + self.branch2(x))


class Stem(nn.Module):
    def __init__(self, c1):
        super().__init__()
        self.conv = nn.Conv2d(1, c1, (5, 7), stride=2, padding=(2, 3), bias=False)
        self.bn = nn.BatchNorm2d(c1, eps=EPS)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)

    def forward(self, x):
        return self.pool(torch.relu(self.bn(self.conv(x))))


class Head(nn.Module):
    def __init__(self, c, num_classes):
        super().__init__()
        self.projection = nn.Linear(c, num_classes)

    def forward(self, x):
        return self.projection(x.mean(dim=(2, 3)))


class ReferenceNet(nn.Module):
    """Input N x 1 x T x F, output logits."""

    def __init__(self, num_classes=309, stem=64, widths=(64, 128, 256, 512), depths=(3, 4, 6, 3),
                 expansion=4, kernels=(21, 11, 3), mixing="separable", deploy=False):
        super().__init__()
        self.s1 = nn.Module()
        self.s1.pathway0_stem = Stem(stem)
        c_in = stem
        for n, (c, depth) in enumerate(zip(widths, depths), start=2):
            stage = nn.Module()
            for i in range(depth):
                stride = 2 if (i == 0 and n > 2) else 1
                block = Block(c_in, c, stride, kernels=kernels, mixing=mixing,
                              expansion=expansion, deploy=deploy)
                stage.add_module(f"pathway0_res{i}", block)
                c_in = c
            setattr(self, f"s{n}", stage)
        self.head = Head(c_in, num_classes)

    def forward(self, x):
        x = self.s1.pathway0_stem(x)
        for n in range(2, 6):
            for block in getattr(self, f"s{n}").children():
                x = block(x)
        return self.head(x)


def randomize(net: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights and random BatchNorm statistics (not the initial ones); eval mode."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in net.state_dict().items():
            if not tensor.is_floating_point():
                continue
            if name.endswith("d_bn.weight"):
                # Small residual-branch gains keep activations of a deep random net realistic.
                tensor.copy_(0.1 + 0.2 * torch.rand(tensor.shape, generator=generator))
            elif name.endswith("running_var") or (name.endswith("weight") and tensor.ndim == 1):
                tensor.copy_(0.5 + torch.rand(tensor.shape, generator=generator))
            elif tensor.ndim == 1:
                tensor.copy_(0.2 * torch.randn(tensor.shape, generator=generator))
            else:
                fan_in = tensor[0].numel()
                tensor.copy_(torch.randn(tensor.shape, generator=generator) * (2.0 / fan_in) ** 0.5)
    return net.eval()
