"""Distilling an anchor-free AFDet teacher into an AFDet student: box-distribution and soft class targets.

Teacher and student outputs are (B, N, 4·(R + 1) + C) over the same points (same input size, strides, ``reg_max``
and classes). The teacher's quality score q_n = max_c σ(z_T,nc) weights each point, so background points count
little:

    L_box   = T² · Σ_{n,k} q_n · KL(softmax(b_T,nk / T) ‖ softmax(b_S,nk / T)) / Σ_{n,k} q_n
              (the distribution of each side k over the bins: localization distillation, Zheng et al. 2022,
              on GFL's bins, Li et al. 2020)
    L_class = mean_{n,c} BCE(σ(z_S,nc), σ(z_T,nc))                                  (soft per-class scores)

``DistillTask`` takes L_box as its soft term (KL over dim 1 with the weights q) and adds ``λ_conf·L_class`` as
``loss_kd_conf``; the student's own task loss is mixed in with (1 − α) as for every task.
"""

from __future__ import annotations

import torch

from ..errors import ConfigError
from .afdet_loss import split_output
from .base import DistillView
from .kd import soft_bce


def points_distill_view(student: torch.Tensor, teacher: torch.Tensor, reg_max: int, conf: float = 1.0
                        ) -> DistillView:
    """The student's and teacher's bin logits as (B, R + 1, N·4) with weights q (B, N·4), and λ·L_class."""
    if student.shape != teacher.shape:
        raise ConfigError(f"anchor-free distillation needs the same points, reg_max and classes: student output "
                          f"{tuple(student.shape)} vs teacher {tuple(teacher.shape)} (use the same input size)")
    bins_s, cls_s = split_output(student.float(), reg_max)  # (B, N, 4, R+1), (B, N, C)
    with torch.no_grad():
        bins_t, cls_t = split_output(teacher.detach().to(student.device).float(), reg_max)
        q = torch.sigmoid(cls_t).amax(-1)  # (B, N)
    b, n = q.shape
    weight = q[:, :, None].expand(b, n, 4).reshape(b, n * 4)
    view = DistillView(bins_s.reshape(b, n * 4, -1).transpose(1, 2), bins_t.reshape(b, n * 4, -1).transpose(1, 2),
                       weight)
    view.extra = {"conf": conf * soft_bce(cls_s, cls_t)}
    return view
