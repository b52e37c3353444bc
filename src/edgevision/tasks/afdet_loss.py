"""Task-aligned assignment and the losses of the anchor-free head (:mod:`edgevision.models.afdet`), vectorized over
the batch (ground truth padded to (B, G); no Python loop over boxes).

**Assignment** (Feng et al. 2021, TOOD): for point n and ground-truth box g of class c, the alignment

    t_gn = s_gn^α · u_gn^β,   s = σ(predicted class-c logit),  u = IoU(predicted box, g)   (both detached)

is computed where the point's centre lies inside g; each box takes its top-k points by t as positives; a point
claimed by several boxes keeps the one it overlaps most. Defaults α = 1, β = 6 (TOOD) and k = 10 (YOLOv8's; TOOD
takes 13; YOLOv8's α is 0.5). The class target of a positive is the normalized alignment
t̂ = t · max_n(u_gn) / max_n(t_gn) (per box, over its positives), 0 elsewhere.

**Losses** (normalized by T = Σ t̂, at least 1):

    L_cls = λ_cls / T · Σ_{n,c} BCE(logit_nc, t̂_nc)                            (all points; negatives target 0)
    L_box = λ_box / T · Σ_{pos} t̂_n · (1 − CIoU(b̂_n, g_n))                    (Zheng et al. 2020)
    L_dfl = λ_dfl / T · Σ_{pos} t̂_n · ¼ Σ_k −((y_{i+1} − y) log S_i + (y − y_i) log S_{i+1})   (Li et al. 2020)

with y the side's target distance in stride units (clamped to [0, R − 0.01]), y_i = ⌊y⌋, y_{i+1} = y_i + 1 and
S = softmax of that side's R + 1 bins. λ_box = 7.5, λ_cls = 0.5, λ_dfl = 1.5 (YOLOv8's gains).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..ops import torch_boxes as tb
from .detection_loss import pad_targets


@dataclass(frozen=True)
class AFDetLossConfig:
    reg_max: int = 8
    topk: int = 10
    alpha: float = 1.0
    beta: float = 6.0
    box: float = 7.5
    cls: float = 0.5
    dfl: float = 1.5


@dataclass
class Assignment:
    """Per point: ``fg`` (B, N) positives, ``gt_idx`` (B, N) their box, ``boxes`` (B, N, 4) xyxy targets,
    ``scores`` (B, N, C) soft class targets t̂ (0 off the positives)."""

    fg: torch.Tensor
    gt_idx: torch.Tensor
    boxes: torch.Tensor
    scores: torch.Tensor


def split_output(raw: torch.Tensor, reg_max: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, N, 4(R+1) + C) → bin logits (B, N, 4, R+1), class logits (B, N, C)."""
    nb = 4 * (reg_max + 1)
    return raw[..., :nb].reshape(*raw.shape[:2], 4, reg_max + 1), raw[..., nb:]


def decode_boxes(bins: torch.Tensor, points: torch.Tensor, strides: torch.Tensor) -> torch.Tensor:
    """Bin logits (B, N, 4, R+1) → xyxy boxes (B, N, 4): point ∓ stride · E[distance] (the DFL expectation)."""
    proj = torch.arange(bins.shape[-1], dtype=bins.dtype, device=bins.device)
    dist = (bins.softmax(-1) * proj).sum(-1) * strides[:, None]
    return torch.cat([points - dist[..., :2], points + dist[..., 2:]], -1)


def inside(points: torch.Tensor, gt: torch.Tensor, eps: float = 1e-9) -> torch.Tensor:
    """(B, G, N): point n's centre lies strictly inside box g."""
    lt = points[None, None] - gt[:, :, None, :2]
    rb = gt[:, :, None, 2:] - points[None, None]
    return torch.cat([lt, rb], -1).amin(-1) > eps


@torch.no_grad()
def task_aligned_assign(cls_logits: torch.Tensor, pred_boxes: torch.Tensor, points: torch.Tensor,
                        gt: torch.Tensor, labels: torch.Tensor, valid: torch.Tensor, topk: int = 10,
                        alpha: float = 1.0, beta: float = 6.0, eps: float = 1e-9) -> Assignment:
    """TOOD's task-aligned assignment (see the module doc) for a batch: predictions (B, N, C) / (B, N, 4),
    points (N, 2), padded ground truth (B, G, 4) xyxy, labels (B, G), valid (B, G)."""
    b, g = labels.shape
    n, c = cls_logits.shape[1], cls_logits.shape[2]
    cand = inside(points, gt) & valid[..., None]  # (B, G, N)
    score = cls_logits.sigmoid().gather(2, labels[:, None, :].expand(b, n, g)).permute(0, 2, 1)  # (B, G, N)
    iou = tb.paired_iou_giou(gt[:, :, None], pred_boxes[:, None])[0] * cand  # (B, G, N)
    align = score.pow(alpha) * iou.pow(beta) * cand
    top = align.topk(min(topk, n), dim=2).indices
    pos = torch.zeros_like(cand).scatter_(2, top, True) & cand
    multi = pos.sum(1, keepdim=True) > 1  # a point claimed by several boxes keeps its best-overlapping one
    best = F.one_hot(iou.argmax(1), g).permute(0, 2, 1).bool()
    pos = torch.where(multi, best & cand, pos)
    fg = pos.any(1)
    gt_idx = pos.float().argmax(1)  # (B, N)
    align, iou = align * pos, iou * pos
    norm = (align * iou.amax(2, keepdim=True) / (align.amax(2, keepdim=True) + eps)).amax(1)  # (B, N)
    lab = labels.gather(1, gt_idx)
    scores = F.one_hot(lab, c).float() * (norm * fg)[..., None]
    boxes = gt.gather(1, gt_idx[..., None].expand(b, n, 4))
    return Assignment(fg, gt_idx, boxes, scores)


def dfl_loss(bins: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Distribution focal loss (Li et al. 2020) per side, averaged over the 4 sides: bins (M, 4, R+1) logits,
    target (M, 4) distances in bins (already clamped to [0, R − 0.01]) → (M,)."""
    left = target.long()
    wl = left + 1 - target
    logp = bins.log_softmax(-1)
    nl = -logp.gather(-1, left[..., None]).squeeze(-1)
    nr = -logp.gather(-1, (left + 1)[..., None]).squeeze(-1)
    return (nl * wl + nr * (1 - wl)).mean(-1)


def target_distances(boxes: torch.Tensor, points: torch.Tensor, strides: torch.Tensor, reg_max: int
                     ) -> torch.Tensor:
    """xyxy targets (M, 4) seen from their points (M, 2) → (l, t, r, b) in stride units, clamped for the DFL."""
    d = torch.cat([points - boxes[:, :2], boxes[:, 2:] - points], -1) / strides[:, None]
    return d.clamp(0, reg_max - 0.01)


def afdet_loss(raw: torch.Tensor, points: torch.Tensor, strides: torch.Tensor, gt_boxes: list[torch.Tensor],
               gt_labels: list[torch.Tensor], cfg: AFDetLossConfig) -> dict[str, torch.Tensor]:
    """Loss of a raw AFDet output (B, N, 4(R+1) + C) against per-image xyxy boxes and labels; ``points`` (N, 2)
    and ``strides`` (N,) in input pixels. Returns ``loss`` and its parts ``loss_box``, ``loss_dfl``, ``loss_class``."""
    bins, cls = split_output(raw.float(), cfg.reg_max)
    pred = decode_boxes(bins, points, strides)
    gt, labels, valid = pad_targets(gt_boxes, gt_labels)
    a = task_aligned_assign(cls.detach(), pred.detach(), points, gt, labels, valid, cfg.topk, cfg.alpha, cfg.beta)
    total = a.scores.sum().clamp(min=1.0)
    loss_cls = cfg.cls * F.binary_cross_entropy_with_logits(cls, a.scores, reduction="sum") / total
    w = a.scores.sum(-1)[a.fg]
    bi, ni = a.fg.nonzero(as_tuple=True)
    _, ciou = tb.paired_ciou(pred[a.fg], a.boxes[a.fg])
    loss_box = cfg.box * ((1 - ciou) * w).sum() / total
    tgt = target_distances(a.boxes[a.fg], points[ni], strides[ni], cfg.reg_max)
    loss_dfl = cfg.dfl * (dfl_loss(bins[bi, ni], tgt) * w).sum() / total
    return {"loss": loss_cls + loss_box + loss_dfl, "loss_box": loss_box.detach(), "loss_dfl": loss_dfl.detach(),
            "loss_class": loss_cls.detach()}
