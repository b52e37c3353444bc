"""Per-pixel losses on logits (B, C, H, W) and integer label maps (B, H, W), as in Demborg (2018) §3.4.

With Ŷ = softmax(logits) over the class dimension and Y the one-hot truth, both zeroed at ignored pixels, and
sums over the pixels v of one image, per class::

    CE   = −(1/|V|) Σ_v log Ŷ_v[y_v]                                   (doc eq. 3.1, mean over valid pixels)
    IoU  = 1 − mean_{b,c} (Σ_v Y·Ŷ + ε) / (Σ_v (Y + Ŷ − Y·Ŷ) + ε)      (Rahman & Wang 2016; doc §3.4.2)
    Dice = 1 − mean_{b,c} (2 Σ_v Y·Ŷ + ε) / (Σ_v Y + Σ_v Ŷ + ε)        (Milletari et al. 2016)

ε (``smooth``, default 1) keeps a class absent from both truth and prediction at ratio ≈ 1 instead of 0/0.
``"ce+dice"`` and ``"ce+iou"`` add the two terms. Pixel distillation (CE + λ·T²·KL) is the distillation task's
job: it wraps the segmentation task and sees the same (B, C, H, W) logits.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..registry import Registry

SEG_LOSSES: Registry = Registry("segmentation loss", builtins=("edgevision.tasks",), plural="seg-losses")
LossFn = Callable[..., torch.Tensor]


def match_size(logits: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """Bilinearly resize logits (B, C, h, w) to (B, C, H, W) when a model predicts at a lower resolution."""
    if tuple(logits.shape[-2:]) == tuple(hw):
        return logits
    return F.interpolate(logits, size=tuple(hw), mode="bilinear", align_corners=False)


def soft_terms(logits: torch.Tensor, target: torch.Tensor, ignore_index: int
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per (image, class) sums Σ Y·Ŷ, Σ Y, Σ Ŷ over valid pixels: three (B, C) tensors."""
    b, c = logits.shape[:2]
    valid = target != ignore_index  # (B, H, W)
    t = torch.where(valid, target, 0).long()
    prob = torch.softmax(logits.float(), 1) * valid.unsqueeze(1)  # (B, C, H, W), 0 at ignored pixels
    # Σ_v Y·Ŷ without a one-hot tensor: the probability of each pixel's true class, summed per class.
    p_true = prob.gather(1, t.unsqueeze(1)).reshape(b, -1)  # (B, HW)
    inter = torch.zeros(b, c, dtype=prob.dtype, device=prob.device).scatter_add(1, t.reshape(b, -1), p_true)
    y = torch.zeros(b, c, dtype=prob.dtype, device=prob.device).scatter_add(1, t.reshape(b, -1),
                                                                             valid.reshape(b, -1).to(prob.dtype))
    return inter, y, prob.sum((2, 3))


@SEG_LOSSES.register("ce")
def ce_loss(logits: torch.Tensor, target: torch.Tensor, ignore_index: int = 255, weight: torch.Tensor | None = None,
            label_smoothing: float = 0.0, **_: float) -> torch.Tensor:
    """Pixel cross-entropy, mean over non-ignored pixels (0 when every pixel is ignored)."""
    if not (target != ignore_index).any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits.float(), target.long(), weight=weight, ignore_index=ignore_index,
                           label_smoothing=label_smoothing)


@SEG_LOSSES.register("iou")
def iou_loss(logits: torch.Tensor, target: torch.Tensor, ignore_index: int = 255, smooth: float = 1.0,
             **_: float) -> torch.Tensor:
    """Soft IoU (Jaccard) loss 1 − (Σ Y·Ŷ + ε) / (Σ (Y + Ŷ − Y·Ŷ) + ε), averaged over images and classes."""
    inter, y, p = soft_terms(logits, target, ignore_index)
    return 1 - ((inter + smooth) / (y + p - inter + smooth)).mean()


@SEG_LOSSES.register("dice")
def dice_loss(logits: torch.Tensor, target: torch.Tensor, ignore_index: int = 255, smooth: float = 1.0,
              **_: float) -> torch.Tensor:
    """Soft Dice loss 1 − (2 Σ Y·Ŷ + ε) / (Σ Y + Σ Ŷ + ε), averaged over images and classes."""
    inter, y, p = soft_terms(logits, target, ignore_index)
    return 1 - ((2 * inter + smooth) / (y + p + smooth)).mean()


def resolve_loss(name: str) -> list[LossFn]:
    """``"ce"``, ``"iou"``, ``"dice"`` or a ``+``-joined sum such as ``"ce+dice"``."""
    return [SEG_LOSSES.get(part.strip()) for part in name.split("+")]
