"""SqueezeDet (Wu et al. 2017, "SqueezeDet: unified, small, low power fully convolutional neural networks for
real-time object detection for autonomous driving"), as described in OpenCV GSoC 2017.

A trunk (SqueezeNet v1.0 / v1.1 conv1 … fire9, or MobileNetV1 cut at stride 16), then fire10 and fire11
(squeeze 96, expands 384 + 384 at width 1), dropout, and the **ConvDet** head: one 3×3 conv with K·(4 + 1 + C)
outputs per grid cell. The output keeps its grid, (B, K·(5 + C), Hf, Wf); for anchor k the channels
k·(5+C) … k·(5+C)+4+C are ``[δx, δy, δw, δh, confidence logit, C class logits]`` (see
:mod:`edgevision.ops.postprocess`). Anchors are data, not weights: the detection task owns them.

Deviations, each an option: ``bn`` (default on) puts BatchNorm after every conv, because we train from scratch
on CPU without ImageNet weights; the confidence bias starts at logit(0.01) so the λ⁻ term does not swamp the
first steps (Lin et al. 2017's prior).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .base import MODELS, EdgeModel
from .blocks import Fire
from .mobilenet import MOBILENET_V1_CFG, MobileNetV1Features
from .squeezenet import squeezenet_features

BACKBONES = ("squeezenet1_0", "squeezenet1_1", "mobilenet_v1")


def make_trunk(backbone: str, in_channels: int, width_mult: float, leaky: float,
               bn: bool) -> tuple[nn.Sequential, int]:
    """The feature extractor at stride 16 and its output channels."""
    if backbone in ("squeezenet1_0", "squeezenet1_1"):
        return squeezenet_features(backbone[-3:], in_channels, width_mult, leaky, bn)
    if backbone == "mobilenet_v1":
        full = MobileNetV1Features(in_channels, width_mult, leaky)
        cut = 1 + len(MOBILENET_V1_CFG) - 2  # stem + blocks up to the last stride-2 block: stride 16
        trunk = nn.Sequential(*list(full.children())[:cut])
        return trunk, trunk[-1][1][0].out_channels
    raise ValueError(f"backbone {backbone!r}: expected one of {', '.join(BACKBONES)}")


class SqueezeDet(EdgeModel):
    """Trunk → fire10 → fire11 → dropout → ConvDet (3×3, K·(5 + C) channels)."""

    def __init__(self, num_classes: int = 20, num_anchors: int = 9, in_channels: int = 3,
                 backbone: str = "squeezenet1_0", width_mult: float = 1.0, fire_squeeze: int = 96,
                 fire_expand: int = 384, leaky: float = 0.0, dropout: float = 0.5, bn: bool = True) -> None:
        super().__init__()
        self.num_classes, self.num_anchors = num_classes, num_anchors
        self.features, c = make_trunk(backbone, in_channels, width_mult, leaky, bn)
        s, e = max(1, round(fire_squeeze * width_mult)), max(1, round(fire_expand * width_mult))
        self.fire10 = Fire(c, s, e, e, leaky, bn)
        self.fire11 = Fire(2 * e, s, e, e, leaky, bn)
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.convdet = nn.Conv2d(2 * e, num_anchors * (5 + num_classes), 3, padding=1)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        nn.init.normal_(self.convdet.weight, std=0.01)
        bias = self.convdet.bias.detach().view(self.num_anchors, 5 + self.num_classes)
        bias[:, 4] = -math.log(99.0)  # σ(conf) starts at 0.01

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        # channels-last: PyTorch's CPU max-pool and small convs are several times faster in NHWC (measured 16×
        # for the stem's 3×3/2 max-pool); the layout is invisible to ONNX export.
        x = x.contiguous(memory_format=torch.channels_last)
        return self.fire11(self.fire10(self.features(x)))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.convdet(self.dropout(features))


@MODELS.register("squeezedet", default_input=(3, 320, 320), family="squeezedet", task="detection",
                 description="SqueezeDet: SqueezeNet v1.0 trunk + fire10/11 (96, 384) + ConvDet (OpenCV GSoC 2017)")
def squeezedet(**kwargs) -> SqueezeDet:
    return SqueezeDet(**{"backbone": "squeezenet1_0", **kwargs})


@MODELS.register("squeezedet_small", default_input=(3, 320, 320), family="squeezedet", task="detection",
                 description="real-time SqueezeDet: SqueezeNet v1.1 trunk, width 0.5, fire10/11 (64, 128)")
def squeezedet_small(**kwargs) -> SqueezeDet:
    return SqueezeDet(**{"backbone": "squeezenet1_1", "width_mult": 0.5, "fire_squeeze": 128, "fire_expand": 256,
                         **kwargs})


@MODELS.register("squeezedet_mobilenet", default_input=(3, 320, 320), family="squeezedet", task="detection",
                 description="SqueezeDet head on a MobileNetV1 trunk (stride 16), width 0.5")
def squeezedet_mobilenet(**kwargs) -> SqueezeDet:
    return SqueezeDet(**{"backbone": "mobilenet_v1", "width_mult": 0.5, **kwargs})
