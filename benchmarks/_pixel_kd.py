"""TEMPORARY per-pixel knowledge distillation for the segmentation benchmark's "distilled" entry.

The real machinery (``edgevision.compress.distill``: a Task wrapping a Task, with reusable KD loss pieces on
logits (N, C, ...) with the class dimension at 1) is built on another branch. After merging, the lead replaces
:class:`PixelKDTask` here with it; ``tests/test_segmentation_kd.py`` holds the expectations both must meet.

    L = L_task(Y, Ŷ) + λ · T² · (1/|V|) Σ_v KL(softmax(z_t,v / T) ‖ softmax(z_s,v / T))    (doc 004 eq. 3.4,
                                                                                            Hinton et al. 2015)

with the sum over the valid (non-ignored) pixels v, the KL summed over classes.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from edgevision.tasks.base import Meter, Task


def pixel_kd(student: torch.Tensor, teacher: torch.Tensor, temperature: float,
             valid: torch.Tensor | None = None) -> torch.Tensor:
    """T² · mean over valid pixels of KL(p_teacher ‖ p_student) at temperature T; logits (N, C, ...)."""
    t = temperature
    log_s = F.log_softmax(student.float() / t, 1)
    p_t = F.softmax(teacher.float() / t, 1)
    kl = (p_t * (torch.log(p_t.clamp_min(1e-12)) - log_s)).sum(1)  # (N, ...) per pixel
    if valid is not None:
        kl = kl[valid]
    return kl.mean() * t * t if kl.numel() else student.sum() * 0.0


class PixelKDTask(Task):
    """Wraps a segmentation task: its loss + λ·T²·KL to a frozen teacher's per-pixel distribution."""

    def __init__(self, base: Task, teacher: nn.Module, temperature: float = 4.0, lam: float = 1.0) -> None:
        super().__init__()
        self.base, self.teacher, self.t, self.lam = base, teacher.eval(), temperature, lam
        self.name, self.primary, self.mode = base.name, base.primary, base.mode
        for p in self.teacher.parameters():
            p.requires_grad_(False)

    def step(self, model: nn.Module, batch: dict[str, Any]) -> dict[str, Any]:
        out = self.base.forward(model, batch)
        loss = self.base.loss(out, batch)
        if model.training:  # validation reports the plain task loss
            with torch.no_grad():
                teacher = self.teacher(batch["image"])
            valid = batch["mask"] != getattr(self.base, "ignore_index", -1)
            loss = loss + self.lam * pixel_kd(out, teacher, self.t, valid)
        return {"loss": loss, "output": out}

    def batch_metric(self, out: dict[str, Any], batch: dict[str, Any]) -> float | None:
        return self.base.batch_metric(out, batch)

    def meter(self) -> Meter:
        return self.base.meter()

    def to_dict(self) -> dict[str, Any]:
        return self.base.to_dict()  # the student is saved as a plain segmentation model
