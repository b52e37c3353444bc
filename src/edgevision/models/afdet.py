"""AFDet: a compact anchor-free detector — a trunk tapped at strides 8/16/32, a light PAN neck, and a decoupled
class/box head per level with distribution-focal-loss box bins (in the manner of FCOS, Tian et al. 2019; GFL,
Li et al. 2020; and YOLOv8's head).

- **Trunk** (one of our families, padded so level l is exactly H/s_l × W/s_l for sides that are multiples of 32):
  MobileNetV1, SqueezeNet v1.1 (plus one fire at stride 32), or a ResNet (basic blocks), each with ``width_mult``;
  ``depth_mult`` scales the number of blocks of the ResNet and of the neck/head branches.
- **Neck** (PANet, Liu et al. 2018): 1×1 laterals to ``neck_channels``, a top-down pass (nearest ×2 up, add,
  depthwise-separable conv), then a bottom-up pass (3×3/2 depthwise-separable down, add, depthwise-separable conv).
- **Head** per level (not shared: each level keeps its own BatchNorm statistics; the cost is the same):
  class branch → C logits, box branch → 4·(R + 1) logits, the distribution of each side's distance over the bins
  0 … R in stride units (R = ``reg_max``). The class bias starts at logit(0.01) = −log 99 (Lin et al. 2017's prior).

**Output**: ONE tensor (B, N, 4·(R + 1) + C): per point, ``[l bins, t bins, r bins, b bins, C class logits]``.
N = Σ_l (H/s_l)·(W/s_l), levels in the order 8, 16, 32, each level row-major; the point of cell (i, j) at stride s
is ((j + 0.5)·s, (i + 0.5)·s) in input pixels (:func:`edgevision.ops.points.make_points`). Decode:
box = (x − s·E[l], y − s·E[t], x + s·E[r], y + s·E[b]), E = the softmax expectation over the bins; score = σ(logit).
At most 4-D tensors and plain ops (Conv, Resize nearest, Add, Reshape, Concat, Transpose): ONNX and cv2.dnn friendly.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .base import MODELS, EdgeModel
from .blocks import BasicBlock, Fire, act, conv_bn_act, dwsep
from .mobilenet import MobileNetV1Features
from .squeezenet import squeezenet_features

STRIDES = (8, 16, 32)
TRUNKS = ("mobilenet_v1", "squeezenet1_1", "resnet")


def _mobilenet(in_channels: int, width_mult: float, depth_mult: float, leaky: float) -> tuple[list[nn.Module],
                                                                                               list[int]]:
    f = list(MobileNetV1Features(in_channels, width_mult, leaky).children())  # stem + 13 blocks
    stages = [nn.Sequential(*f[:6]), nn.Sequential(*f[6:12]), nn.Sequential(*f[12:])]  # strides 8, 16, 32
    return stages, [s[-1][1][0].out_channels for s in stages]


def _squeezenet(in_channels: int, width_mult: float, depth_mult: float, leaky: float) -> tuple[list[nn.Module],
                                                                                                list[int]]:
    trunk, c16 = squeezenet_features("1_1", in_channels, width_mult, leaky, bn=True)
    layers = list(trunk.children())
    layers[0].padding = (1, 1)  # 3×3/2 with padding 1: exactly H/2 for even sides (ceil-mode pools halve exactly)
    cut = [i for i, m in enumerate(layers) if isinstance(m, nn.MaxPool2d)][2]  # the pool into stride 16
    c8 = layers[cut - 1].expand1x1.out_channels + layers[cut - 1].expand3x3.out_channels
    s, e = max(1, round(64 * width_mult)), max(1, round(256 * width_mult))
    down = nn.Sequential(nn.MaxPool2d(3, 2, padding=1), Fire(c16, s, e, e, leaky, bn=True))  # cv2-safe at 2×2
    return [nn.Sequential(*layers[:cut]), nn.Sequential(*layers[cut:]), down], [c8, c16, 2 * e]


def _resnet(in_channels: int, width_mult: float, depth_mult: float, leaky: float) -> tuple[list[nn.Module],
                                                                                            list[int]]:
    w = [max(8, round(c * width_mult)) for c in (32, 64, 128, 256)]
    n = max(1, round(2 * depth_mult))
    stem = nn.Sequential(conv_bn_act(in_channels, w[0], 3, 2, leaky=leaky), conv_bn_act(w[0], w[0], 3, 2, leaky=leaky))

    def stage(cin: int, cout: int) -> nn.Sequential:
        return nn.Sequential(*[BasicBlock(cin if j == 0 else cout, cout, 2 if j == 0 else 1, leaky) for j in range(n)])

    return [nn.Sequential(stem, stage(w[0], w[1])), stage(w[1], w[2]), stage(w[2], w[3])], w[1:]


_TRUNK_BUILDERS = {"mobilenet_v1": _mobilenet, "squeezenet1_1": _squeezenet, "resnet": _resnet}


def _branch(c: int, n: int, leaky: float) -> nn.Sequential:
    return nn.Sequential(*[dwsep(c, c, 1, leaky) for _ in range(n)])


class PAN(nn.Module):
    """PANet neck on three levels, every conv depthwise-separable and every level ``c`` channels wide."""

    def __init__(self, cins: list[int], c: int, depth: int, leaky: float) -> None:
        super().__init__()
        self.lateral = nn.ModuleList(conv_bn_act(ci, c, 1, leaky=leaky) for ci in cins)
        self.up = nn.Upsample(scale_factor=2.0, mode="nearest")
        self.top_down = nn.ModuleList(_branch(c, depth, leaky) for _ in range(2))
        self.down = nn.ModuleList(conv_bn_act(c, c, 3, 2, groups=c, leaky=leaky) for _ in range(2))
        self.bottom_up = nn.ModuleList(_branch(c, depth, leaky) for _ in range(2))

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        p3, p4, p5 = (lat(f) for lat, f in zip(self.lateral, feats))
        p4 = self.top_down[0](p4 + self.up(p5))
        n3 = self.top_down[1](p3 + self.up(p4))
        n4 = self.bottom_up[0](p4 + self.down[0](n3))
        n5 = self.bottom_up[1](p5 + self.down[1](n4))
        return [n3, n4, n5]


class DecoupledHead(nn.Module):
    """One level: class branch → C logits and box branch → 4·(R + 1) bin logits, as one (B, 4(R+1) + C, H, W)."""

    def __init__(self, c: int, num_classes: int, reg_max: int, depth: int, leaky: float) -> None:
        super().__init__()
        self.cls = nn.Sequential(_branch(c, depth, leaky), nn.Conv2d(c, num_classes, 1))
        self.box = nn.Sequential(_branch(c, depth, leaky), nn.Conv2d(c, 4 * (reg_max + 1), 1))
        nn.init.normal_(self.cls[-1].weight, std=0.01)
        nn.init.constant_(self.cls[-1].bias, -math.log(99.0))  # σ = 0.01
        nn.init.normal_(self.box[-1].weight, std=0.01)
        nn.init.zeros_(self.box[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.box(x), self.cls(x)], 1)


class AFDet(EdgeModel):
    """Trunk (strides 8/16/32) → PAN → per-level decoupled heads → (B, N, 4·(reg_max + 1) + C).

    ``forward_features`` returns the three neck maps [N3, N4, N5] (a list, not one tensor: the head reads all
    three), so feature-hint distillation needs a named ``feature_layer`` for this family."""

    strides = STRIDES

    def __init__(self, num_classes: int = 1, in_channels: int = 3, backbone: str = "mobilenet_v1",
                 width_mult: float = 0.5, depth_mult: float = 1.0, neck_channels: int = 64, reg_max: int = 8,
                 leaky: float = 0.0) -> None:
        super().__init__()
        if backbone not in _TRUNK_BUILDERS:
            raise ValueError(f"backbone {backbone!r}: expected one of {', '.join(TRUNKS)}")
        self.num_classes, self.reg_max = num_classes, reg_max
        stages, cins = _TRUNK_BUILDERS[backbone](in_channels, width_mult, depth_mult, leaky)
        self.stages = nn.ModuleList(stages)
        depth = max(1, round(depth_mult))
        self.neck = PAN(cins, neck_channels, depth, leaky)
        self.heads = nn.ModuleList(DecoupledHead(neck_channels, num_classes, reg_max, depth, leaky) for _ in STRIDES)
        self.act = act(leaky)

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = x.contiguous(memory_format=torch.channels_last)  # faster small convs and pools on CPU; invisible to ONNX
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return self.neck(feats)

    def forward_head(self, features: list[torch.Tensor]) -> torch.Tensor:
        k = 4 * (self.reg_max + 1) + self.num_classes
        # NHWC then a reshape whose only free size is the batch (sizes as constants: cv2.dnn mis-reads the
        # Shape → Slice → Concat reshape that flatten(2) exports when the batch is above 1)
        outs = [head(f).permute(0, 2, 3, 1).reshape(-1, int(f.shape[2]) * int(f.shape[3]), k)
                for head, f in zip(self.heads, features)]
        return torch.cat(outs, 1)  # (B, N, K), levels in stride order, row-major within a level


def _register(name: str, backbone: str, width: float, description: str) -> None:
    def build(**kwargs) -> AFDet:
        return AFDet(**{"backbone": backbone, "width_mult": width, **kwargs})

    MODELS.register(name, build, default_input=(3, 256, 256), family="afdet", task="detection", head="points",
                    strides=list(STRIDES), description=description)


_register("afdet_mobilenet", "mobilenet_v1", 0.5, "anchor-free: MobileNetV1 ×0.5 trunk, PAN 64, decoupled DFL head")
_register("afdet_squeezenet", "squeezenet1_1", 0.5, "anchor-free: SqueezeNet v1.1 ×0.5 trunk, PAN 64, DFL head")
_register("afdet_resnet", "resnet", 0.5, "anchor-free: small ResNet (16–128 wide) trunk, PAN 64, DFL head")
