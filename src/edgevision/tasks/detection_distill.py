"""Distilling a SqueezeDet teacher into a SqueezeDet student: soft class, soft confidence and box targets.

The detection-side pieces of knowledge distillation (Hinton et al. 2015; for detectors, Chen et al. 2017,
"Learning efficient object detection models with knowledge distillation"). Teacher and student outputs are raw
ConvDet maps of the same grid and anchors, (B, K·(5 + C), Hf, Wf); per anchor, with the teacher's objectness
p_T = σ(conf_T) used as a weight w = p_T:

    L_class = T² · Σ_a w_a · KL(softmax(z_T,a / T) ‖ softmax(z_S,a / T)) / Σ_a w_a        (soft class targets)
    L_conf  = mean_a BCE(σ(conf_S,a), p_T,a)                                                (soft confidence)
    L_box   = Σ_a w_a · smoothL1(δ_S,a − δ_T,a) / Σ_a w_a                                  (box targets)
    L       = λ_class·L_class + λ_conf·L_conf + λ_box·L_box

KL uses ``log_softmax`` on both sides (never the log of a probability), so it stays finite in fp32 and bf16 —
reference doc 000's distillation went to NaN for lack of exactly that. Nothing here imports the distillation
machinery: a distillation task adds this to the student's own SqueezeDet loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from ..ops.torch_boxes import split_raw


@dataclass(frozen=True)
class DetectionDistillWeights:
    temperature: float = 2.0
    cls: float = 1.0
    conf: float = 1.0
    box: float = 1.0
    box_beta: float = 0.1


def detection_distill_loss(student: torch.Tensor, teacher: torch.Tensor, num_anchors: int,
                           w: DetectionDistillWeights = DetectionDistillWeights()) -> dict[str, torch.Tensor]:
    """Soft class + soft confidence + box-target loss between raw student and teacher ConvDet outputs.

    Returns ``loss`` and its parts ``distill_class``, ``distill_conf``, ``distill_box`` (detached).
    """
    if student.shape != teacher.shape:
        raise ConfigError(f"detection distillation needs the same grid, anchors and classes: student output "
                          f"{tuple(student.shape)} vs teacher {tuple(teacher.shape)} (use the same input size and "
                          f"anchors)")
    d_s, c_s, z_s = split_raw(student.float(), num_anchors)
    with torch.no_grad():
        d_t, c_t, z_t = split_raw(teacher.detach().float(), num_anchors)
        p_t = torch.sigmoid(c_t)  # (B, A) teacher objectness, the weight of each anchor
        norm = p_t.sum().clamp(min=1e-6)
    t = w.temperature
    if z_s.shape[-1] > 1:
        kl = (F.softmax(z_t / t, -1) * (F.log_softmax(z_t / t, -1) - F.log_softmax(z_s / t, -1))).sum(-1)
        loss_cls = t * t * (p_t * kl).sum() / norm
    else:
        loss_cls = z_s.sum() * 0.0  # one class: nothing to transfer
    loss_conf = F.binary_cross_entropy_with_logits(c_s, p_t)
    loss_box = (p_t * F.smooth_l1_loss(d_s, d_t, beta=w.box_beta, reduction="none").sum(-1)).sum() / norm
    total = w.cls * loss_cls + w.conf * loss_conf + w.box * loss_box
    return {"loss": total, "distill_class": loss_cls.detach(), "distill_conf": loss_conf.detach(),
            "distill_box": loss_box.detach()}
