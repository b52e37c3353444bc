"""Embedding distillation: a face (or any embedding) student learns an embedding teacher's space (e.g. dlib-face).

The student's embedding is ``forward_features(x)`` (B, D_s); the teacher gives (B, D_t) per image (online, or from
the offline cache). :class:`EmbeddingDistillTask` is a :class:`DistillTask` whose soft term is

    loss_soft   = embedding_loss(P(s), t)        1 − cos (or squared distance) of normalized embeddings
    loss_kd_rkd = λ · relational_loss(s, t)      distance-wise RKD (Park et al. 2019), no projection needed
    loss        = α · (loss_soft + loss_kd_rkd) + (1 − α) · hard

with ``P`` a bias-free linear map D_s → D_t when the sizes differ (identity otherwise). ``P`` is a loss-side
module (:meth:`trainable`): it trains with the student and is dropped after training, so the saved student is
the plain model. ``hard`` is the base task's own loss on the labels (CosFace for ``face``); α = 1 needs none, so
unlabelled face images teach as well as labelled ones. Evaluation steps are the base task's.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ...configs.distill import KDConfig
from ...errors import ConfigError, EdgevisionError
from ...tasks.base import Task
from ...tasks.embedkd import embedding_loss, relational_loss
from .task import DistillTask, TeacherSource

EMBEDDING_STUDENT = "use an embedding student, e.g. --student face_cnn (its forward_features gives (B, D))"


def embedding_dim(model: nn.Module, input_shape: tuple[int, ...], teacher: str = "an embedding teacher") -> int:
    """The size of ``model.forward_features`` on one zero image (C, H, W); a model whose features are not one
    embedding (B, D) per image is a one-line :class:`ConfigError` naming ``teacher``."""
    who = f"{teacher} teaches face (embedding) students"
    if not hasattr(model, "forward_features"):
        raise ConfigError(f"{who}; {type(model).__name__} has no forward_features: {EMBEDDING_STUDENT}")
    was = model.training
    model.eval()
    with torch.no_grad():
        out = model.forward_features(torch.zeros(1, *input_shape))
    model.train(was)
    if not isinstance(out, torch.Tensor) or out.ndim != 2:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ConfigError(f"{who}; {type(model).__name__}'s forward_features gives {got}, not an embedding (B, D): "
                          f"{EMBEDDING_STUDENT}")
    return int(out.shape[1])


class EmbeddingDistillTask(DistillTask):
    """See the module docstring. ``student_dim`` / ``teacher_dim``: the two embedding sizes."""

    def __init__(self, base: Task, teacher: TeacherSource | None, kd: KDConfig | None, student_dim: int,
                 teacher_dim: int) -> None:
        super().__init__(base, teacher, kd)
        self.proj = None if student_dim == teacher_dim else nn.Linear(student_dim, teacher_dim, bias=False)
        self.dims = (student_dim, teacher_dim)

    def trainable(self) -> nn.Module | None:
        return self.proj

    def step(self, model: nn.Module, batch: dict[str, Any]) -> dict[str, Any]:
        if not model.training or self.teacher is None:
            return self.base.step(model, batch)
        emb = model.forward_features(batch["image"]).flatten(1)  # (B, D_s)
        output = model.forward_head(emb)
        if self.phase == "hard":  # Asplund's (2016) schedule: labels only after the soft epochs
            parts = {"loss_hard": self.base.loss(output, batch)}
        else:
            parts = self.soft_parts(emb, self.teacher(batch), batch)
            if self.phase == "kd" and self.kd.alpha < 1:
                parts["loss_hard"] = self.base.loss(output, batch)
        return {"loss": self.combine(parts), "output": output, **{k: v.detach() for k, v in parts.items()}}

    def soft_parts(self, emb: torch.Tensor, teacher_out: Any, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        t = teacher_out.to(emb.device).float()
        if not torch.isfinite(t).all():
            raise EdgevisionError("the embedding teacher's outputs are not finite (inf/NaN) on this batch")
        if t.ndim != 2 or t.shape[1] != self.dims[1] or len(t) != len(emb):
            raise ConfigError(f"teacher embeddings {tuple(t.shape)} do not match ({len(emb)}, {self.dims[1]})")
        s = emb if self.proj is None else self.proj(emb)
        parts = {"loss_soft": embedding_loss(s, t, self.kd.embedding_loss)}
        if self.kd.relational_weight > 0:
            parts["loss_kd_rkd"] = self.kd.relational_weight * relational_loss(emb, t)
        return parts
