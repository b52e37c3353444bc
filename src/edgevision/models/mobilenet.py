"""MobileNetV1 (Howard et al. 2017): a 3×3 stem then 13 depthwise-separable blocks, with a width multiplier α.

Each block costs 9·C_in + C_in·C_out MACs per output pixel instead of 9·C_in·C_out.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import MODELS, EdgeModel
from .blocks import ClassifierHead, conv_bn_act, dwsep

# (output channels, stride) of the 13 depthwise-separable blocks.
MOBILENET_V1_CFG = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1),
                    (512, 1), (512, 1), (1024, 2), (1024, 1))


class MobileNetV1Features(nn.Sequential):
    """The MobileNetV1 trunk; ``stages()`` gives the indices after which resolution halves (for encoders)."""

    def __init__(self, in_channels: int = 3, width_mult: float = 1.0, leaky: float = 0.0) -> None:
        c = max(8, int(32 * width_mult))
        layers: list[nn.Module] = [conv_bn_act(in_channels, c, 3, 2, leaky=leaky)]
        for cout, s in MOBILENET_V1_CFG:
            co = max(8, int(cout * width_mult))
            layers.append(dwsep(c, co, s, leaky))
            c = co
        super().__init__(*layers)
        self.out_channels = c


@MODELS.register("mobilenet_v1", default_input=(3, 224, 224), family="mobilenet",
                 description="MobileNetV1 with width multiplier (4.23M params at 1.0, 1000 classes)")
class MobileNetV1(EdgeModel):
    def __init__(self, num_classes: int = 1000, in_channels: int = 3, width_mult: float = 1.0,
                 dropout: float = 0.0, leaky: float = 0.0) -> None:
        super().__init__()
        self.features = MobileNetV1Features(in_channels, width_mult, leaky)
        self.head = ClassifierHead(self.features.out_channels, num_classes, dropout)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)
