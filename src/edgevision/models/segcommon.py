"""What the segmentation networks share: the resolution multiplier, the input-size check, and a helper to
register them with ``task="segmentation"`` so generic code (tests, the train stage) knows their outputs are
per-pixel logits (B, num_classes, H, W).

The resolution multiplier ``r`` (MobileNets, Howard et al. 2017; used by FastLinkNet in Demborg 2018)
bilinearly rescales the input by ``r`` on entry and the logits by ``1/r`` at the end, so a net with ``r = 0.5``
costs about a quarter of the MACs and still returns full-resolution logits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import EdgevisionError
from .base import MODELS, EdgeModel
from .blocks import make_divisible

RESOLUTION_MULTS = (0.25, 0.5, 0.75, 1.0)


class InputSizeError(EdgevisionError):
    """The input's height or width does not fit the network's downsampling."""


def scaled(channels: int, width_mult: float, divisor: int = 4) -> int:
    """``channels · width_mult`` rounded to a multiple of ``divisor`` (at least ``divisor``)."""
    return make_divisible(channels * width_mult, divisor)


class SegmentationModel(EdgeModel):
    """Base of the per-pixel models: ``forward_features`` starts with :meth:`enter`, ``forward_head`` ends with
    :meth:`leave`.

    Subclasses set ``stride`` (total downsampling of the trunk) before calling :meth:`enter`.
    """

    stride = 32

    def __init__(self, resolution_mult: float = 1.0) -> None:
        super().__init__()
        if resolution_mult not in RESOLUTION_MULTS:
            raise ValueError(f"resolution_mult must be one of {RESOLUTION_MULTS}, got {resolution_mult}")
        self.resolution_mult = float(resolution_mult)

    @property
    def input_multiple(self) -> int:
        """Input H and W must be multiples of this (the trunk stride divided by the resolution multiplier)."""
        return round(self.stride / self.resolution_mult)

    def enter(self, x: torch.Tensor) -> torch.Tensor:
        """Check the input size, then downscale by the resolution multiplier: (B, C, H, W) → (B, C, rH, rW)."""
        h, w = x.shape[-2:]
        m = self.input_multiple
        if isinstance(h, int) and (h % m or w % m):  # plain ints in eager mode and in ONNX tracing
            raise InputSizeError(f"{type(self).__name__} needs input height and width divisible by {m} "
                                 f"(stride {self.stride} / resolution_mult {self.resolution_mult}); got {h}x{w}")
        if self.resolution_mult == 1.0:
            return x
        return F.interpolate(x, scale_factor=self.resolution_mult, mode="bilinear", align_corners=False)

    def leave(self, logits: torch.Tensor) -> torch.Tensor:
        """Bilinearly upsample the logits back to the input size: (B, K, rH, rW) → (B, K, H, W)."""
        if self.resolution_mult == 1.0:
            return logits
        return F.interpolate(logits, scale_factor=1 / self.resolution_mult, mode="bilinear", align_corners=False)


def register_segnet(name: str, description: str):
    """Register a segmentation model at the doc's 256² default input, marked ``task="segmentation"``."""
    return MODELS.register(name, default_input=(3, 256, 256), family="segnets", task="segmentation",
                           description=description)
