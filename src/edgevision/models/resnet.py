"""ResNet teachers (He et al. 2016). Two stems:

- ``cifar``: 3×3 conv, no pooling — for small inputs (28–64 px); depth 6n+2 with 3 stages (resnet8/14/20).
- ``imagenet``: 7×7/2 conv + 3×3/2 max-pool — for large inputs; ResNet-18 is layers (2, 2, 2, 2).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .base import MODELS, EdgeModel
from .blocks import BasicBlock, ClassifierHead, act


class ResNet(EdgeModel):
    def __init__(self, layers: Sequence[int] = (2, 2, 2, 2), widths: Sequence[int] = (64, 128, 256, 512),
                 stem: str = "imagenet", width_mult: float = 1.0, num_classes: int = 1000, in_channels: int = 3,
                 dropout: float = 0.0, leaky: float = 0.0) -> None:
        super().__init__()
        if stem not in ("imagenet", "cifar"):
            raise ValueError(f"stem must be 'imagenet' or 'cifar', got {stem!r}")
        widths = [max(4, round(w * width_mult)) for w in widths]
        c = widths[0]
        if stem == "imagenet":
            self.stem = nn.Sequential(nn.Conv2d(in_channels, c, 7, 2, 3, bias=False), nn.BatchNorm2d(c), act(leaky),
                                      nn.MaxPool2d(3, 2, 1))
        else:
            self.stem = nn.Sequential(nn.Conv2d(in_channels, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c), act(leaky))
        stages = []
        for i, (n, w) in enumerate(zip(layers, widths)):
            blocks = [BasicBlock(c if j == 0 else w, w, 2 if (i > 0 and j == 0) else 1, leaky) for j in range(n)]
            stages.append(nn.Sequential(*blocks))
            c = w
        self.stages = nn.Sequential(*stages)
        self.stage_channels = list(widths)
        self.head = ClassifierHead(c, num_classes, dropout)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)


MODELS.register("resnet", ResNet, default_input=(3, 224, 224), family="resnet",
                description="generic ResNet (layers, widths, stem, width_mult)")


def _cifar(n: int):
    def build(**kwargs) -> ResNet:
        return ResNet(layers=(n, n, n), widths=(16, 32, 64), stem="cifar", **kwargs)
    return build


for _depth in (8, 14, 20):
    MODELS.register(f"resnet{_depth}", _cifar((_depth - 2) // 6), default_input=(3, 32, 32), family="resnet",
                    description=f"CIFAR-style ResNet-{_depth} teacher (widths 16/32/64 × width_mult)")


@MODELS.register("resnet18", default_input=(3, 224, 224), family="resnet", description="ResNet-18 (11.7M params)")
def resnet18(**kwargs) -> ResNet:
    return ResNet(layers=(2, 2, 2, 2), widths=(64, 128, 256, 512), stem="imagenet", **kwargs)
