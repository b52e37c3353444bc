"""SqueezeNet v1.0 and v1.1 (Iandola et al. 2016, "SqueezeNet: AlexNet-level accuracy with 50x fewer parameters").

Layout as in OpenCV GSoC 2017 and torchvision: conv1 → fire2..fire9 with max-pools → dropout → conv10 (1×1 to
classes) → ReLU → global average pool. ``width_mult`` scales every channel count; ``leaky`` switches ReLU to
LeakyReLU, which the doc found fixes dead units; ``bn`` adds BatchNorm after every conv (folded at export).

Initialization follows the reference implementations (torchvision; He et al. 2015, "Delving deep into
rectifiers"): every conv ``W ~ U(−b, b)`` with ``b = √(6 / fan_in)``, i.e. ``Var(W) = 2 / fan_in``, which keeps
the activation variance constant through the ReLUs, and the classifier conv ``W ~ N(0, 0.01²)``, biases 0.
PyTorch's default (``Var(W) = 1 / (3·fan_in)``) shrank the signal 27× over the 18 convs without BatchNorm, so
every image got the same logits and training from scratch stayed at loss ln K (``benchmarks/squeezenet_init.py``).
"""

from __future__ import annotations

import torch
from torch import nn

from .base import MODELS, EdgeModel
from .blocks import Fire, act

# (squeeze, expand1x1, expand3x3) per fire module, with "M" for a 3×3/2 max-pool (ceil mode).
_V10 = (96, 7, [(16, 64, 64), (16, 64, 64), (32, 128, 128), "M", (32, 128, 128), (48, 192, 192), (48, 192, 192),
                (64, 256, 256), "M", (64, 256, 256)])
_V11 = (64, 3, [(16, 64, 64), (16, 64, 64), "M", (32, 128, 128), (32, 128, 128), "M", (48, 192, 192),
                (48, 192, 192), (64, 256, 256), (64, 256, 256)])


def _scaled(c: int, w: float) -> int:
    return max(1, round(c * w))


def squeezenet_features(version: str = "1_1", in_channels: int = 3, width_mult: float = 1.0, leaky: float = 0.0,
                        bn: bool = False) -> tuple[nn.Sequential, int]:
    """The SqueezeNet trunk conv1 … fire9 (no classifier) and its output channels; reused by SqueezeDet.

    ``bn`` adds BatchNorm after every conv (SqueezeDet in edgevision trains from scratch, where it helps).
    """
    stem_channels, k, fires = {"1_0": _V10, "1_1": _V11}[version]
    c = _scaled(stem_channels, width_mult)
    stem = [nn.Conv2d(in_channels, c, k, stride=2, bias=not bn), *([nn.BatchNorm2d(c)] if bn else [])]
    layers: list[nn.Module] = [*stem, act(leaky), nn.MaxPool2d(3, 2, ceil_mode=True)]
    for f in fires:
        if f == "M":
            layers.append(nn.MaxPool2d(3, 2, ceil_mode=True))
            continue
        s, e1, e3 = (_scaled(v, width_mult) for v in f)
        layers.append(Fire(c, s, e1, e3, leaky, bn))
        c = e1 + e3
    return nn.Sequential(*layers), c


class SqueezeNet(EdgeModel):
    def __init__(self, version: str, num_classes: int = 1000, in_channels: int = 3, width_mult: float = 1.0,
                 leaky: float = 0.0, dropout: float = 0.5, bn: bool = False) -> None:
        super().__init__()
        self.features, c = squeezenet_features(version, in_channels, width_mult, leaky, bn)
        self.num_features = c
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Conv2d(c, num_classes, 1), act(leaky),
                                        nn.AdaptiveAvgPool2d(1), nn.Flatten(1))
        init_squeezenet(self, self.classifier[1])

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(features)


@torch.no_grad()
def init_squeezenet(model: nn.Module, final: nn.Conv2d) -> None:
    """He-uniform convs (``Var(W) = 2 / fan_in``), ``N(0, 0.01²)`` for the classifier conv ``final``, zero biases."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            if m is final:
                nn.init.normal_(m.weight, std=0.01)
            else:
                nn.init.kaiming_uniform_(m.weight, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)


@MODELS.register("squeezenet1_0", default_input=(3, 224, 224), family="squeezenet",
                 description="SqueezeNet v1.0 (1,248,424 params at 1000 classes)")
def squeezenet1_0(**kwargs) -> SqueezeNet:
    return SqueezeNet("1_0", **kwargs)


@MODELS.register("squeezenet1_1", default_input=(3, 224, 224), family="squeezenet",
                 description="SqueezeNet v1.1, 2.4x fewer MACs than v1.0 (1,235,496 params at 1000 classes)")
def squeezenet1_1(**kwargs) -> SqueezeNet:
    return SqueezeNet("1_1", **kwargs)
