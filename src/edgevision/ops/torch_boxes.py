"""Differentiable (torch) box operations for the losses and for decoding inside an exported graph."""

from __future__ import annotations

import math

import torch

from .anchors import MAX_DELTA_WH


def cxcywh_to_xyxy(b: torch.Tensor) -> torch.Tensor:
    cx, cy, w, h = b.unbind(-1)
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1)


def xyxy_to_cxcywh(b: torch.Tensor) -> torch.Tensor:
    x1, y1, x2, y2 = b.unbind(-1)
    return torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], -1)


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise IoU (N, M) of xyxy boxes a (N, 4), b (M, 4)."""
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_a = (a[:, 2:] - a[:, :2]).clamp(min=0).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).clamp(min=0).prod(-1)
    return inter / (area_a[:, None] + area_b[None, :] - inter).clamp(min=1e-9)


def paired_iou_giou(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Element-wise IoU and GIoU of xyxy boxes (…, 4) (Rezatofighi et al. 2019).

    GIoU = IoU − |C \\ (A ∪ B)| / |C|, with C the smallest box enclosing A and B; it stays informative (and its
    gradient non-zero) when the boxes do not overlap, unlike IoU.
    """
    lt = torch.maximum(a[..., :2], b[..., :2])
    rb = torch.minimum(a[..., 2:], b[..., 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    union = (a[..., 2:] - a[..., :2]).clamp(min=0).prod(-1) + (b[..., 2:] - b[..., :2]).clamp(min=0).prod(-1) - inter
    iou = inter / union.clamp(min=1e-9)
    hull = (torch.maximum(a[..., 2:], b[..., 2:]) - torch.minimum(a[..., :2], b[..., :2])).clamp(min=0).prod(-1)
    return iou, iou - (hull - union) / hull.clamp(min=1e-9)


def encode(boxes_cxcywh: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """δ targets: ((x − x̂)/ŵ, (y − ŷ)/ĥ, log(w/ŵ), log(h/ĥ))."""
    return torch.stack([(boxes_cxcywh[..., 0] - anchors[..., 0]) / anchors[..., 2],
                        (boxes_cxcywh[..., 1] - anchors[..., 1]) / anchors[..., 3],
                        torch.log(boxes_cxcywh[..., 2] / anchors[..., 2]),
                        torch.log(boxes_cxcywh[..., 3] / anchors[..., 3])], -1)


def decode(deltas: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """(cx, cy, w, h) = (x̂ + ŵ·δx, ŷ + ĥ·δy, ŵ·exp(δw), ĥ·exp(δh)), δw and δh clamped before exp."""
    return torch.stack([anchors[..., 0] + anchors[..., 2] * deltas[..., 0],
                        anchors[..., 1] + anchors[..., 3] * deltas[..., 1],
                        anchors[..., 2] * torch.exp(deltas[..., 2].clamp(max=MAX_DELTA_WH)),
                        anchors[..., 3] * torch.exp(deltas[..., 3].clamp(max=MAX_DELTA_WH))], -1)


def split_raw(raw: torch.Tensor, num_anchors: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(B, K(5+C), Hf, Wf) → δ (B, A, 4), confidence logits (B, A), class logits (B, A, C), A = Hf·Wf·K."""
    b, ch, hf, wf = raw.shape
    x = raw.reshape(b, num_anchors, ch // num_anchors, hf, wf).permute(0, 3, 4, 1, 2)
    x = x.reshape(b, hf * wf * num_anchors, ch // num_anchors)
    return x[..., :4], x[..., 4], x[..., 5:]


def paired_ciou(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-9) -> tuple[torch.Tensor, torch.Tensor]:
    """Element-wise IoU and Complete IoU of xyxy boxes (…, 4), predictions ``a`` against targets ``b``
    (Zheng et al. 2020, "Distance-IoU loss"):

        CIoU = IoU − ρ²(centres) / c² − α·v,   v = 4/π² · (atan(w_b/h_b) − atan(w_a/h_a))²,   α = v / (1 − IoU + v)

    with c the diagonal of the smallest enclosing box; α is a weight, so it carries no gradient.
    """
    iou, _ = paired_iou_giou(a, b)
    wa, ha = (a[..., 2] - a[..., 0]).clamp(min=eps), (a[..., 3] - a[..., 1]).clamp(min=eps)
    wb, hb = (b[..., 2] - b[..., 0]).clamp(min=eps), (b[..., 3] - b[..., 1]).clamp(min=eps)
    hull = torch.maximum(a[..., 2:], b[..., 2:]) - torch.minimum(a[..., :2], b[..., :2])
    c2 = (hull**2).sum(-1) + eps
    rho2 = (((a[..., :2] + a[..., 2:]) - (b[..., :2] + b[..., 2:])) ** 2).sum(-1) / 4
    v = (4 / math.pi**2) * (torch.atan(wb / hb) - torch.atan(wa / ha)) ** 2
    with torch.no_grad():
        alpha = v / (1 - iou + v + eps)
    return iou, iou - rho2 / c2 - alpha * v
