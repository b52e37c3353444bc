"""Knowledge distillation: a task wrapping any base task, run by the one Trainer.

Reusable pieces for other tasks (detection: per-anchor logits; segmentation: per-pixel logits), all taking
logits (N, C, ...) with classes at dim 1:

- :mod:`.losses`: ``soft_kl`` (T²·KL), ``hinton_loss``, ``kd_bce_loss`` (Stanček 2024), ``logit_mse``, ``zero_mean``,
  and detection's ``soft_bce`` (teacher confidence) and ``soft_regression`` (teacher boxes);
- the base task's ``distill_view`` pairs student and teacher outputs (segmentation: valid pixels at the mask's
  size; detection: per-anchor class logits weighted by the teacher's objectness, plus confidence and boxes);
- :mod:`.hints`: FitNets hints and attention transfer between named layers of any two models;
- :mod:`.teachers`: artifact and OpenCV teachers, :data:`PERSON_SCORERS` for detector artifacts;
- :mod:`.cache`: the offline, memory-mapped teacher-logit cache;
- :mod:`.task`: :class:`DistillTask`; :mod:`.stage`: the ``distill`` stage and :func:`distill`.
"""

from ...tasks.kd import (
           binary_ce,
           hinton_loss,
           kd_bce_loss,
           logit_mse,
           soft_bce,
           soft_kl,
           soft_regression,
           soft_targets,
           zero_mean,
)
from .cache import TeacherCache
from .hints import HintConfig, HintSet, attention_transfer
from .score import distillation_score
from .stage import distill
from .task import DistillTask, KDConfig
from .teachers import PERSON_SCORERS, TEACHERS, Teacher, build_teacher

__all__ = ["PERSON_SCORERS", "TEACHERS", "DistillTask", "HintConfig", "HintSet", "KDConfig", "Teacher",
           "TeacherCache", "attention_transfer", "binary_ce", "build_teacher", "distill", "distillation_score",
           "hinton_loss", "kd_bce_loss", "logit_mse", "soft_bce", "soft_kl", "soft_regression", "soft_targets",
           "zero_mean"]
