"""Building blocks shared by the model families (shapes in comments are NCHW)."""

from __future__ import annotations

import torch
from torch import nn

DEFAULT_LEAKY_SLOPE = 0.1


def act(leaky: float | bool = 0.0) -> nn.Module:
    """ReLU, or LeakyReLU(slope) — the leaky variant fixes dead ReLUs (OpenCV GSoC 2017).

    ``leaky=True`` means the default slope 0.1 (not ``LeakyReLU(1.0)``, which would be the identity)."""
    if isinstance(leaky, bool):
        leaky = DEFAULT_LEAKY_SLOPE if leaky else 0.0
    return nn.LeakyReLU(leaky, inplace=True) if leaky else nn.ReLU(inplace=True)


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a channel count to a multiple of ``divisor`` without dropping more than 10 %."""
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def conv_bn_act(cin: int, cout: int, k: int = 3, stride: int = 1, groups: int = 1, dilation: int = 1,
                leaky: float = 0.0, bn: bool = True) -> nn.Sequential:
    """Conv(k×k, 'same' padding) → BatchNorm → ReLU; the conv has no bias when BN follows."""
    pad = dilation * (k - 1) // 2
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride, pad, dilation=dilation, groups=groups, bias=not bn)]
    if bn:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(act(leaky))
    return nn.Sequential(*layers)


def dwsep(cin: int, cout: int, stride: int = 1, leaky: float = 0.0) -> nn.Sequential:
    """Depthwise-separable conv (MobileNetV1): 3×3 depthwise → BN → ReLU → 1×1 pointwise → BN → ReLU.

    MACs per output pixel drop from 9·cin·cout to 9·cin + cin·cout (Howard et al. 2017).
    """
    return nn.Sequential(conv_bn_act(cin, cin, 3, stride, groups=cin, leaky=leaky),
                         conv_bn_act(cin, cout, 1, leaky=leaky))


class Fire(nn.Module):
    """SqueezeNet fire module: 1×1 squeeze → [1×1 expand ‖ 3×3 expand] (Iandola et al. 2016).

    Output channels = e1 + e3; the concatenation couples both expands for structured pruning. With ``bn`` each
    conv is followed by BatchNorm (no conv bias), which makes training from scratch much faster; the BN folds
    into the conv at export.
    """

    def __init__(self, cin: int, squeeze: int, e1: int, e3: int, leaky: float = 0.0, bn: bool = False) -> None:
        super().__init__()
        self.squeeze = nn.Conv2d(cin, squeeze, 1, bias=not bn)
        self.squeeze_bn = nn.BatchNorm2d(squeeze) if bn else nn.Identity()
        self.squeeze_act = act(leaky)
        self.expand1x1 = nn.Conv2d(squeeze, e1, 1, bias=not bn)
        self.expand1x1_bn = nn.BatchNorm2d(e1) if bn else nn.Identity()
        self.expand1x1_act = act(leaky)
        self.expand3x3 = nn.Conv2d(squeeze, e3, 3, padding=1, bias=not bn)
        self.expand3x3_bn = nn.BatchNorm2d(e3) if bn else nn.Identity()
        self.expand3x3_act = act(leaky)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.squeeze_act(self.squeeze_bn(self.squeeze(x)))
        return torch.cat([self.expand1x1_act(self.expand1x1_bn(self.expand1x1(s))),
                          self.expand3x3_act(self.expand3x3_bn(self.expand3x3(s)))], 1)


class BasicBlock(nn.Module):
    """ResNet basic block: two 3×3 conv-BN with an identity (or 1×1 projection) shortcut added (He et al. 2016)."""

    def __init__(self, cin: int, cout: int, stride: int = 1, leaky: float = 0.0) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.act1 = act(leaky)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.act2 = act(leaky)
        self.downsample = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                           if stride != 1 or cin != cout else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv2(self.act1(self.bn1(self.conv1(x)))))
        return self.act2(y + self.downsample(x))


class ClassifierHead(nn.Module):
    """Global average pool → flatten → dropout → linear: features (B, C, H, W) → logits (B, num_classes)."""

    def __init__(self, cin: int, num_classes: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.flatten(self.pool(x))))


class SeparableBasicBlock(nn.Module):
    """A ResNet basic block whose two 3×3 convs are depthwise-separable (FastLinkNet, Demborg (2018) §3.3).

    Each 3×3 conv (9·cin·cout MACs per pixel) becomes 3×3 depthwise → BN → ReLU → 1×1 pointwise → BN
    (9·cin + cin·cout); the shortcut is an identity or a strided 1×1 projection, as in :class:`BasicBlock`.
    """

    def __init__(self, cin: int, cout: int, stride: int = 1, leaky: float = 0.0) -> None:
        super().__init__()
        self.dw1 = conv_bn_act(cin, cin, 3, stride, groups=cin, leaky=leaky)
        self.pw1 = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.act1 = act(leaky)
        self.dw2 = conv_bn_act(cout, cout, 3, groups=cout, leaky=leaky)
        self.pw2 = nn.Sequential(nn.Conv2d(cout, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.act2 = act(leaky)
        self.downsample = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                           if stride != 1 or cin != cout else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pw2(self.dw2(self.act1(self.pw1(self.dw1(x)))))
        return self.act2(y + self.downsample(x))
