"""ENet (Paszke et al. 2016, "ENet: A Deep Neural Network Architecture for Real-Time Semantic Segmentation").

Layout for a 256² input (channels at ``width_mult = 1``)::

    initial      3×3/2 conv (13) ‖ 2×2 max-pool (3) → 16 @ 128²                        BN, PReLU
    stage 1      bottleneck1.0 ↓ (64 @ 64²), 4 × regular                                spatial dropout p/10
    stage 2      bottleneck2.0 ↓ (128 @ 32²), then regular, dilated 2, asymmetric 5, dilated 4,
                 regular, dilated 8, asymmetric 5, dilated 16                            spatial dropout p
    stage 3      stage 2 without 2.0
    stage 4      bottleneck4.0 ↑ (64 @ 64²), 2 × regular
    stage 5      bottleneck5.0 ↑ (16 @ 128²), 1 × regular
    fullconv     3×3/2 transposed conv → num_classes @ 256²

A bottleneck is 1×1 projection (÷4 channels; a 2×2/2 conv when downsampling) → main conv (3×3, dilated 3×3,
or asymmetric 5×1 then 1×5) → 1×1 expansion → spatial dropout, added to the shortcut, then PReLU.

Max-unpooling is replaced as in Demborg (2018) (§3.3, fig. 3.6): the upsampling bottleneck's shortcut is the
1×1-projected input, nearest-upsampled ×2, **plus the feature map as it was before the matching max-pool**.
This avoids MaxUnpool, which neither ``cv2.dnn`` nor most mobile runtimes implement.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .segcommon import SegmentationModel, register_segnet, scaled

# Stage 2/3 bottleneck kinds: ("regular", 1), ("dilated", d) or ("asymmetric", 5).
STAGE2 = (("regular", 1), ("dilated", 2), ("asymmetric", 5), ("dilated", 4), ("regular", 1), ("dilated", 8),
          ("asymmetric", 5), ("dilated", 16))


def _bn_prelu(c: int) -> list[nn.Module]:
    return [nn.BatchNorm2d(c), nn.PReLU(c)]


def _main_conv(c: int, kind: str, arg: int) -> nn.Sequential:
    """The bottleneck's middle conv: 3×3, dilated 3×3 (dilation ``arg``) or asymmetric ``arg``×1 then 1×``arg``."""
    if kind == "asymmetric":
        p = arg // 2
        convs = [nn.Conv2d(c, c, (arg, 1), padding=(p, 0), bias=False),
                 nn.Conv2d(c, c, (1, arg), padding=(0, p), bias=False)]
    else:
        d = arg if kind == "dilated" else 1
        convs = [nn.Conv2d(c, c, 3, padding=d, dilation=d, bias=False)]
    return nn.Sequential(*convs, *_bn_prelu(c))


class InitialBlock(nn.Module):
    """3×3/2 conv with ``cout − cin`` filters concatenated with a 2×2 max-pool of the input: (B, cin, H, W) →
    (B, cout, H/2, W/2)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout - cin, 3, 2, 1, bias=False)
        self.pool = nn.MaxPool2d(2)
        self.bn, self.act = _bn_prelu(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(torch.cat([self.conv(x), self.pool(x)], 1)))


class Bottleneck(nn.Module):
    """Regular / dilated / asymmetric bottleneck, or the downsampling one (``down=True``, cin → cout, /2)."""

    def __init__(self, cin: int, cout: int, kind: str = "regular", arg: int = 1, dropout: float = 0.1,
                 down: bool = False) -> None:
        super().__init__()
        mid = max(cin // 4, 4)
        proj = nn.Conv2d(cin, mid, 2, 2, bias=False) if down else nn.Conv2d(cin, mid, 1, bias=False)
        self.branch = nn.Sequential(proj, *_bn_prelu(mid), _main_conv(mid, kind, arg),
                                    nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.Dropout2d(dropout))
        self.pool = nn.MaxPool2d(2) if down else None
        self.pad = cout - cin  # the max-pooled shortcut is zero-padded to cout channels
        self.act = nn.PReLU(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        short = x
        if self.pool is not None:
            short = self.pool(x)
            if self.pad:
                short = F.pad(short, (0, 0, 0, 0, 0, self.pad))  # (B, cin, h, w) → (B, cout, h, w)
        return self.act(self.branch(x) + short)


class UpBottleneck(nn.Module):
    """Upsampling bottleneck (cin @ h → cout @ 2h) with the doc's unpooling replacement (module docstring)."""

    def __init__(self, cin: int, cout: int, dropout: float = 0.1) -> None:
        super().__init__()
        mid = max(cin // 4, 4)
        self.branch = nn.Sequential(
            nn.Conv2d(cin, mid, 1, bias=False), *_bn_prelu(mid),
            nn.ConvTranspose2d(mid, mid, 3, 2, 1, output_padding=1, bias=False), *_bn_prelu(mid),
            nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.Dropout2d(dropout))
        self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.act = nn.PReLU(cout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        short = F.interpolate(self.shortcut(x), scale_factor=2.0, mode="nearest") + skip
        return self.act(self.branch(x) + short)


@register_segnet("enet", "ENet (Paszke et al. 2016): dilated + asymmetric bottlenecks, PReLU, spatial dropout")
class ENet(SegmentationModel):
    """ENet with a width multiplier (channels 16/64/128 × ``width_mult``) and a resolution multiplier.

    Args:
        num_classes: output classes (logits (B, num_classes, H, W)).
        in_channels: image channels.
        width_mult: channel multiplier.
        resolution_mult: input rescale factor (see :mod:`.segcommon`).
        dropout: spatial-dropout probability of stages 2–5 (stage 1 uses ``dropout / 10``, as the paper's
            0.01 / 0.1).
    """

    stride = 8

    def __init__(self, num_classes: int = 2, in_channels: int = 3, width_mult: float = 1.0,
                 resolution_mult: float = 1.0, dropout: float = 0.1) -> None:
        super().__init__(resolution_mult)
        c0, c1, c2 = (scaled(c, width_mult) for c in (16, 64, 128))
        c0 = max(c0, in_channels + 4)
        self.initial = InitialBlock(in_channels, c0)
        p1 = dropout / 10
        self.down1 = Bottleneck(c0, c1, dropout=p1, down=True)
        self.stage1 = nn.Sequential(*(Bottleneck(c1, c1, dropout=p1) for _ in range(4)))
        self.down2 = Bottleneck(c1, c2, dropout=dropout, down=True)
        self.stage2 = nn.Sequential(*(Bottleneck(c2, c2, k, a, dropout) for k, a in STAGE2))
        self.stage3 = nn.Sequential(*(Bottleneck(c2, c2, k, a, dropout) for k, a in STAGE2))
        self.up4 = UpBottleneck(c2, c1, dropout)
        self.stage4 = nn.Sequential(*(Bottleneck(c1, c1, dropout=dropout) for _ in range(2)))
        self.up5 = UpBottleneck(c1, c0, dropout)
        self.stage5 = Bottleneck(c0, c0, dropout=dropout)
        self.fullconv = nn.ConvTranspose2d(c0, num_classes, 3, 2, 1, output_padding=1)
        self.out_channels = c0

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) → decoder features (B, c0, rH/2, rW/2)."""
        s0 = self.initial(self.enter(x))  # (B, c0, H/2, W/2): the map before down1's max-pool
        s1 = self.stage1(self.down1(s0))  # (B, c1, H/4, W/4): the map before down2's max-pool
        y = self.stage3(self.stage2(self.down2(s1)))  # (B, c2, H/8, W/8)
        y = self.stage4(self.up4(y, s1))
        return self.stage5(self.up5(y, s0))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """(B, c0, rH/2, rW/2) → logits (B, num_classes, H, W)."""
        return self.leave(self.fullconv(features))
