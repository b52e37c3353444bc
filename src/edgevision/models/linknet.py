"""LinkNet and its two variants from Demborg (2018): MobileSeg and FastLinkNet.

LinkNet (Chaurasia & Culurciello 2017): a ResNet-18 encoder (7×7/2 conv + 3×3/2 max-pool, then four stages of
two basic blocks, 64/128/256/512 channels at strides 4/8/16/32) and a light decoder. Decoder block *i* turns
``m`` channels into ``n``::

    1×1 conv m → m/4 → 3×3 transposed conv (×2 upsampling) m/4 → m/4 → 1×1 conv m/4 → n     (each BN + ReLU)

and its output is **added** to the encoder map of the same size (the "link"). Decoder block 1 sits at stride 4
where ResNet's first stage does not downsample, so its transposed conv has stride 1 (as in the authors' code).
The final block: 3×3 transposed conv ×2 (64 → 32), 3×3 conv (32 → 32), 2×2 transposed conv ×2 (32 → classes).

- **MobileSeg** (Demborg 2018): the MobileNetV1 body as encoder (taps at strides 4/8/16/32: 128/256/512/1024
  channels) with the LinkNet decoder.
- **FastLinkNet** (Demborg 2018): LinkNet whose encoder-block convs are all depthwise-separable
  (:class:`~.blocks.SeparableBasicBlock`), the input halved on entry and the logits bilinearly upsampled back
  (``resolution_mult = 0.5``). ``separable_stem`` (default on) makes the 7×7 initial conv separable too, which
  is what brings the MACs near the doc's 0.287 GFLOPs; with it off the stem keeps all 64 full 7×7 filters
  (+38 M MACs at 256²) — a depthwise 7×7 on 3 input channels has only 3 spatial filters.

``forward_features`` returns the decoder's output at stride 4 (B, 64·w, H/4, W/4); ``forward_head`` is spatial
dropout + the final block (+ the resolution-multiplier upsampling).
"""

from __future__ import annotations

import torch
from torch import nn

from .blocks import BasicBlock, SeparableBasicBlock, conv_bn_act
from .mobilenet import MobileNetV1Features
from .segcommon import SegmentationModel, register_segnet, scaled

MOBILENET_TAPS = (3, 5, 11, 13)  # MobileNetV1Features indices whose outputs are at strides 4, 8, 16, 32


class ResNetEncoder(nn.Module):
    """ResNet-18 trunk returning the four stage outputs [(B, c1, H/4), (B, c2, H/8), (B, c3, H/16), (B, c4, H/32)]."""

    def __init__(self, in_channels: int = 3, width_mult: float = 1.0, separable: bool = False,
                 separable_stem: bool = False) -> None:
        super().__init__()
        self.channels = [scaled(c, width_mult) for c in (64, 128, 256, 512)]
        c = self.channels[0]
        if separable_stem:  # 7×7/2 depthwise → BN → ReLU → 1×1 pointwise (in_channels → c)
            conv = [*conv_bn_act(in_channels, in_channels, 7, 2, groups=in_channels),
                    nn.Conv2d(in_channels, c, 1, bias=False)]
        else:
            conv = [nn.Conv2d(in_channels, c, 7, 2, 3, bias=False)]
        self.stem = nn.Sequential(*conv, nn.BatchNorm2d(c), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
        block = SeparableBasicBlock if separable else BasicBlock
        stages = []
        for i, w in enumerate(self.channels):
            stages.append(nn.Sequential(block(c, w, 1 if i == 0 else 2), block(w, w)))
            c = w
        self.stages = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        outs = []
        for s in self.stages:
            x = s(x)
            outs.append(x)
        return outs


class MobileNetEncoder(nn.Module):
    """MobileNetV1 body returning its outputs at strides 4, 8, 16, 32 (128/256/512/1024 channels × w)."""

    def __init__(self, in_channels: int = 3, width_mult: float = 1.0) -> None:
        super().__init__()
        self.features = MobileNetV1Features(in_channels, width_mult)
        self.channels = [self.features[i][1][0].out_channels for i in MOBILENET_TAPS]  # the pointwise convs

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in MOBILENET_TAPS:
                outs.append(x)
        return outs


class DecoderBlock(nn.Sequential):
    """1×1 (m → m/4) → 3×3 transposed conv (×stride) → 1×1 (m/4 → n), each with BN + ReLU."""

    def __init__(self, m: int, n: int, stride: int = 2) -> None:
        q = max(m // 4, 4)
        up = nn.Sequential(nn.ConvTranspose2d(q, q, 3, stride, 1, output_padding=stride - 1, bias=False),
                           nn.BatchNorm2d(q), nn.ReLU(inplace=True))
        super().__init__(conv_bn_act(m, q, 1), up, conv_bn_act(q, n, 1))


class FinalBlock(nn.Sequential):
    """Spatial dropout → 3×3 transposed conv ×2 (c → c/2) → 3×3 conv → 2×2 transposed conv ×2 (→ classes)."""

    def __init__(self, c: int, num_classes: int, dropout: float = 0.0) -> None:
        h = max(c // 2, 4)
        up1 = nn.Sequential(nn.ConvTranspose2d(c, h, 3, 2, 1, output_padding=1, bias=False), nn.BatchNorm2d(h),
                            nn.ReLU(inplace=True))
        super().__init__(nn.Dropout2d(dropout), up1, conv_bn_act(h, h, 3), nn.ConvTranspose2d(h, num_classes, 2, 2))


class LinkNetBase(SegmentationModel):
    """An encoder returning 4 maps (strides 4–32) + LinkNet decoder blocks + the final block."""

    stride = 32

    def __init__(self, encoder: nn.Module, num_classes: int, width_mult: float, resolution_mult: float,
                 dropout: float) -> None:
        super().__init__(resolution_mult)
        self.encoder = encoder
        ch = encoder.channels
        final = scaled(64, width_mult)
        # decoders[i] maps the stride-2^(i+2) level up to the next finer one; decoders[0] stays at stride 4.
        self.decoders = nn.ModuleList([DecoderBlock(ch[0], final, 1)] +
                                      [DecoderBlock(ch[i], ch[i - 1], 2) for i in range(1, 4)])
        self.head = FinalBlock(final, num_classes, dropout)
        self.out_channels = final

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) → (B, 64·w, rH/4, rW/4)."""
        e = self.encoder(self.enter(x))
        d = e[3]
        for i in (3, 2, 1):
            d = self.decoders[i](d) + e[i - 1]  # the LinkNet "link": add the encoder map of the same size
        return self.decoders[0](d)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """(B, 64·w, rH/4, rW/4) → logits (B, num_classes, H, W)."""
        return self.leave(self.head(features))


@register_segnet("linknet", "LinkNet (Chaurasia & Culurciello 2017): ResNet-18 encoder, additive decoder links")
class LinkNet(LinkNetBase):
    def __init__(self, num_classes: int = 2, in_channels: int = 3, width_mult: float = 1.0,
                 resolution_mult: float = 1.0, dropout: float = 0.0) -> None:
        super().__init__(ResNetEncoder(in_channels, width_mult), num_classes, width_mult, resolution_mult, dropout)


@register_segnet("mobileseg", "MobileSeg (Demborg 2018): MobileNetV1 encoder with the LinkNet decoder")
class MobileSeg(LinkNetBase):
    def __init__(self, num_classes: int = 2, in_channels: int = 3, width_mult: float = 1.0,
                 resolution_mult: float = 1.0, dropout: float = 0.0) -> None:
        super().__init__(MobileNetEncoder(in_channels, width_mult), num_classes, width_mult, resolution_mult,
                         dropout)


@register_segnet("fastlinknet", "FastLinkNet (Demborg 2018): separable LinkNet encoder at half input resolution")
class FastLinkNet(LinkNetBase):
    def __init__(self, num_classes: int = 2, in_channels: int = 3, width_mult: float = 1.0,
                 resolution_mult: float = 0.5, dropout: float = 0.0, separable_stem: bool = True) -> None:
        encoder = ResNetEncoder(in_channels, width_mult, separable=True, separable_stem=separable_stem)
        super().__init__(encoder, num_classes, width_mult, resolution_mult, dropout)
