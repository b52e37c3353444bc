"""The SqueezeDet loss (Wu et al. 2017; OpenCV GSoC 2017), vectorized over the batch.

With anchors A, ground-truth boxes G per image, and the *responsible* anchors (for each ground-truth box the anchor
of highest IoU — SqueezeDet's rule — plus, optionally, every anchor whose IoU with a box reaches ``match_iou``):

    L_bbox  = λ_bbox / N⁺ · Σ_{responsible} ‖δ − δᴳ‖²,   δᴳ = ((xᴳ − x̂)/ŵ, (yᴳ − ŷ)/ĥ, log(wᴳ/ŵ), log(hᴳ/ĥ))
    L_conf  = λ⁺ / N⁺ · Σ_{responsible} (γ − IoU(pred, gt))² + λ⁻ / N⁻ · Σ_{others} γ²,   γ = σ(conf logit)
    L_class = λ_class / N⁺ · Σ_{responsible} −log softmax(class logits)_c

N⁺ and N⁻ count responsible and other anchors over the batch; λ_bbox = 5, λ⁺ = 75, λ⁻ = 100 (the paper's values;
OpenCV GSoC 2017 needed λ⁻ = 1000 in its Caffe port), λ_class = 1. The IoU target uses the detached predicted box.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..ops import torch_boxes as tb


@dataclass(frozen=True)
class LossWeights:
    bbox: float = 5.0
    conf_pos: float = 75.0
    conf_neg: float = 100.0
    cls: float = 1.0
    match_iou: float | None = None


def pad_targets(boxes: list[torch.Tensor], labels: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor,
                                                                                  torch.Tensor]:
    """Ragged per-image targets → boxes (B, G, 4), labels (B, G), valid (B, G) with G = the largest count."""
    g = max([len(b) for b in boxes] + [1])
    out_b = torch.zeros(len(boxes), g, 4)
    out_l = torch.zeros(len(boxes), g, dtype=torch.long)
    valid = torch.zeros(len(boxes), g, dtype=torch.bool)
    for i, (b, lab) in enumerate(zip(boxes, labels)):  # one copy per image, not per box
        out_b[i, :len(b)] = b.float()
        out_l[i, :len(b)] = lab.long()
        valid[i, :len(b)] = True
    return out_b, out_l, valid


def assign(anchors_xyxy: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor,
           match_iou: float | None) -> torch.Tensor:
    """Index of the ground-truth box each anchor is responsible for, (B, A), −1 for none.

    Every valid box claims its best anchor; when two boxes claim one anchor the higher IoU wins. With
    ``match_iou``, anchors whose best IoU with any box reaches it are also responsible (for that box).
    """
    b, g = valid.shape
    a = len(anchors_xyxy)
    iou = tb.box_iou(anchors_xyxy, gt.reshape(-1, 4)).reshape(a, b, g).permute(1, 0, 2)  # (B, A, G)
    iou = torch.where(valid[:, None, :], iou, torch.full_like(iou, -1.0))
    owner = torch.full((b, a), -1, dtype=torch.long)
    if match_iou is not None:
        best_iou, best_gt = iou.max(2)
        owner = torch.where(best_iou >= match_iou, best_gt, owner)
    best_iou, best_anchor = iou.max(1)  # (B, G)
    order = torch.argsort(best_iou.masked_fill(~valid, -2.0), dim=1)  # ascending: the highest IoU writes last
    bi = torch.arange(b)[:, None].expand(b, g)
    sel = valid.gather(1, order)
    owner[bi[sel], best_anchor.gather(1, order)[sel]] = order[sel]
    return owner


def squeezedet_loss(raw: torch.Tensor, anchors: torch.Tensor, gt_boxes: list[torch.Tensor],
                    gt_labels: list[torch.Tensor], w: LossWeights) -> dict[str, torch.Tensor]:
    """Loss of a raw ConvDet output (B, K(5+C), Hf, Wf) against per-image xyxy boxes and labels.

    ``anchors`` (A, 4) are (cx, cy, w, h) in input pixels for this grid. Returns ``loss`` and its three parts.
    """
    k = anchors.shape[0] // (raw.shape[2] * raw.shape[3])  # anchors per cell
    deltas, conf_logit, cls_logit = tb.split_raw(raw.float(), k)
    gt, labels, valid = pad_targets(gt_boxes, gt_labels)
    owner = assign(tb.cxcywh_to_xyxy(anchors), gt, valid, w.match_iou)
    pos = owner >= 0
    n_pos = pos.sum().clamp(min=1)
    n_neg = (~pos).sum().clamp(min=1)
    idx = owner.clamp(min=0)
    tgt = torch.gather(gt, 1, idx[..., None].expand(-1, -1, 4))  # (B, A, 4) xyxy of the owner box
    anc = anchors[None].expand_as(tgt)
    target_delta = tb.encode(tb.xyxy_to_cxcywh(tgt).clamp(min=1e-3), anc)
    loss_bbox = w.bbox * ((deltas - target_delta) ** 2).sum(-1)[pos].sum() / n_pos
    with torch.no_grad():
        pred_xyxy = tb.cxcywh_to_xyxy(tb.decode(deltas, anc))
        iou_t, _ = tb.paired_iou_giou(pred_xyxy, tgt)
    conf = torch.sigmoid(conf_logit)
    loss_conf = (w.conf_pos * ((conf - iou_t) ** 2)[pos].sum() / n_pos
                 + w.conf_neg * (conf**2)[~pos].sum() / n_neg)
    if cls_logit.shape[-1] > 1 and pos.any():
        cls_t = torch.gather(labels, 1, idx)
        loss_cls = w.cls * F.cross_entropy(cls_logit[pos], cls_t[pos], reduction="sum") / n_pos
    else:
        loss_cls = cls_logit.sum() * 0.0  # one class: Pr(class | object) = 1
    return {"loss": loss_bbox + loss_conf + loss_cls, "loss_bbox": loss_bbox.detach(),
            "loss_conf": loss_conf.detach(), "loss_class": loss_cls.detach()}
