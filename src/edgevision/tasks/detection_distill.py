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
Asplund's (2016) distillation went to NaN for lack of exactly that. The pieces are the distillation
machinery's (:mod:`edgevision.tasks.kd`: ``soft_kl``, ``soft_bce``, ``soft_regression``);
:meth:`DetectionTask.distill_view` hands them to ``DistillTask``, which adds them to the student's own SqueezeDet
loss as ``α·(L_class + λ_conf·L_conf + λ_box·L_box) + (1 − α)·L_squeezedet``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import ConfigError
from ..ops.torch_boxes import split_raw
from .base import DistillView
from .kd import soft_bce, soft_kl, soft_regression


@dataclass(frozen=True)
class DetectionDistillWeights:
    temperature: float = 2.0
    cls: float = 1.0
    conf: float = 1.0
    box: float = 1.0
    box_beta: float = 0.1


def detection_terms(student: torch.Tensor, teacher: torch.Tensor, num_anchors: int, box_beta: float = 0.1
                    ) -> tuple[DistillView, dict[str, torch.Tensor]]:
    """Class logits per anchor (B, C, A) of both nets weighted by the teacher's objectness p_T (B, A), and the
    unweighted soft-confidence and box-target losses, from raw ConvDet outputs (B, K·(5 + C), Hf, Wf)."""
    if student.shape != teacher.shape:
        raise ConfigError(f"detection distillation needs the same grid, anchors and classes: student output "
                          f"{tuple(student.shape)} vs teacher {tuple(teacher.shape)} (use the same input size and "
                          f"anchors)")
    d_s, c_s, z_s = split_raw(student.float(), num_anchors)  # (B, A, 4), (B, A), (B, A, C)
    with torch.no_grad():
        d_t, c_t, z_t = split_raw(teacher.detach().to(student.device).float(), num_anchors)
        p_t = torch.sigmoid(c_t)  # (B, A) teacher objectness, the weight of each anchor
    parts = {"conf": soft_bce(c_s, c_t), "box": soft_regression(d_s, d_t, weight=p_t, beta=box_beta)}
    return DistillView(z_s.transpose(1, 2), z_t.transpose(1, 2), p_t), parts


def detection_distill_view(student: torch.Tensor, teacher: torch.Tensor, num_anchors: int,
                           w: DetectionDistillWeights = DetectionDistillWeights()) -> DistillView:
    """:func:`detection_terms` with ``extra`` = {conf: λ_conf·L_conf, box: λ_box·L_box}, for ``DistillTask``."""
    view, parts = detection_terms(student, teacher, num_anchors, w.box_beta)
    view.extra = {"conf": w.conf * parts["conf"], "box": w.box * parts["box"]}
    return view


def detection_distill_loss(student: torch.Tensor, teacher: torch.Tensor, num_anchors: int,
                           w: DetectionDistillWeights = DetectionDistillWeights()) -> dict[str, torch.Tensor]:
    """Soft class + soft confidence + box-target loss between raw student and teacher ConvDet outputs.

    Returns ``loss`` and its parts ``distill_class``, ``distill_conf``, ``distill_box`` (detached). With one
    class the class term is exactly 0 (a one-way softmax carries no information).
    """
    v, parts = detection_terms(student, teacher, num_anchors, w.box_beta)
    loss_cls = soft_kl(v.student, v.teacher, w.temperature, weight=v.weight)  # T²·Σ_a p_T·KL / Σ_a p_T
    total = w.cls * loss_cls + w.conf * parts["conf"] + w.box * parts["box"]
    return {"loss": total, "distill_class": loss_cls.detach(), "distill_conf": parts["conf"].detach(),
            "distill_box": parts["box"].detach()}
