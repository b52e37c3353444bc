"""Distillation as a :class:`Task` that wraps the base task: the one training loop runs it unchanged.

``DistillTask.step`` runs the student through the base task's ``forward``, asks a *teacher source* for the
teacher's outputs on the same batch, lets the base task pair them up (:meth:`Task.distill_view`: class logits
(N, C, ...) per image, per pixel or per anchor, position weights such as valid pixels or the teacher's
objectness, and extra teacher-target terms such as detection's confidence and boxes), and combines:

- ``objective="hinton"``: ``(1 − α)·hard + α·T²·KL`` with the base task's own hard loss (Hinton 2015);
- ``objective="kl+bce"``: ``α·T²·KL + β·BCE`` for binary outputs (Stanček 2024);
- ``objective="mse"``: ``(1 − α)·hard + α·logit-MSE`` on zero-mean logits (the T → ∞ limit);
- the base task's extra terms (``loss_kd_*``) join the soft term: ``α·(soft + Σ extra) + (1 − α)·hard``;
- plus Σ feature-hint losses (FitNets / attention transfer) when configured.

``soft_epochs > 0`` gives Asplund's (2016) schedule: soft targets alone for the first epochs, then hard labels alone.
In evaluation (``model.training`` is False) the step is the base task's, so validation and test metrics are
those of the student on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from ...configs.distill import KDConfig
from ...errors import ConfigError, EdgevisionError
from ...tasks.base import Meter, Task
from ...tasks.kd import binary_ce, logit_mse, soft_kl, two_class_logits, zero_mean
from ...train.callbacks import Callback
from .cache import TeacherCache
from .hints import HintSet
from .teachers import Teacher

TeacherSource = Callable[[dict[str, Any]], torch.Tensor]




class OnlineTeacher:
    """Runs the teacher on the exact (augmented, normalized) batch the student sees: consistent teaching."""

    def __init__(self, teacher: Teacher, mean: list[float], std: list[float]) -> None:
        self.teacher = teacher
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)

    def __call__(self, batch: dict[str, Any]) -> torch.Tensor:
        x01 = (batch["image"].float() * self.std + self.mean).clamp(0, 1)  # undo the student's normalization
        with torch.no_grad():
            return self.teacher.logits(x01).float()


class CachedTeacher:
    """Looks the teacher's logits up by ``batch["id"]`` in an offline :class:`TeacherCache`."""

    def __init__(self, cache: TeacherCache) -> None:
        self.cache = cache

    def __call__(self, batch: dict[str, Any]) -> torch.Tensor:
        return self.cache.lookup(batch["id"])


class DistillMeter(Meter):
    """The base task's meter, plus running means of the loss parts (``loss_soft``, ``loss_hard``, ``loss_hint``)."""

    def __init__(self, base: Meter) -> None:
        self.base, self.sums, self.n = base, {}, 0

    def update(self, out: dict[str, Any], batch: dict[str, Any]) -> None:
        self.base.update(out, batch)
        b = len(batch["image"])
        self.n += b
        for k, v in out.items():
            if k.startswith("loss_"):
                self.sums[k] = self.sums.get(k, 0.0) + float(v) * b

    def compute(self) -> dict[str, Any]:
        return {**self.base.compute(), **{k: s / max(self.n, 1) for k, s in self.sums.items()}}


class DistillTask(Task):
    """Wraps ``base``; see the module docstring. ``primary``/``mode``/``decode``/``draw`` are the base task's."""

    name = "distill"

    def __init__(self, base: Task, teacher: TeacherSource | None, kd: KDConfig | None = None,
                 hints: HintSet | None = None) -> None:
        super().__init__()
        self.base, self.teacher, self.kd, self.hints = base, teacher, kd or KDConfig(), hints
        self.primary, self.mode = base.primary, base.mode
        self.phase: Literal["kd", "soft", "hard"] = "soft" if self.kd.soft_epochs else "kd"

    def to_dict(self) -> dict[str, Any]:
        return self.base.to_dict()  # the saved student is a plain model of the base task

    def trainable(self) -> nn.Module | None:
        return self.hints.adapters if self.hints is not None and len(self.hints.adapters) else None

    def meter(self) -> Meter:
        return DistillMeter(self.base.meter())

    def decode(self, output: Any) -> list[dict[str, Any]]:
        return self.base.decode(output)

    def draw(self, image: np.ndarray, pred: dict[str, Any]) -> np.ndarray:
        return self.base.draw(image, pred)

    def summary(self, metrics: dict[str, Any]) -> str:
        return self.base.summary(metrics)

    def step(self, model: nn.Module, batch: dict[str, Any]) -> dict[str, Any]:
        if not model.training or self.teacher is None:
            return self.base.step(model, batch)
        output = self.base.forward(model, batch)
        parts: dict[str, torch.Tensor] = {}
        logs: dict[str, torch.Tensor] = {}
        if self.phase == "hard":  # Asplund's (2016) fine-tuning phase: labels only, no teacher
            parts["loss_hard"], logs = self.hard_parts(output, batch)
        else:
            parts.update(self.soft_parts(output, self.teacher(batch), batch))  # the teacher pass fills its taps
            if self.phase == "kd" and (self.kd.alpha < 1 or hasattr(self.base, "loss_parts")):
                # tasks with loss_parts (detection, localization) log them in their meters, so compute them even
                # when α = 1 (their weight is then 0)
                parts["loss_hard"], logs = self.hard_parts(output, batch)
            if self.hints is not None:
                parts["loss_hint"] = self.hints.loss()
        return {"loss": self.combine(parts), "output": output, **logs, **{k: v.detach() for k, v in parts.items()}}

    def hard_parts(self, output: Any, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The base task's own loss, and its detached parts when it has any (e.g. detection's loss_bbox)."""
        fn = getattr(self.base, "loss_parts", None)
        if fn is None:
            return self.base.loss(output, batch), {}
        p = dict(fn(output, batch))
        return p.pop("loss"), {k: v.detach() for k, v in p.items()}

    def soft_parts(self, output: Any, teacher_out: Any, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """``loss_soft`` (KL, logit MSE or Stanček's (2024) KL) on the class logits the base task pairs up
        (:meth:`Task.distill_view`: per image, per pixel or per anchor, with its position weights), plus the base
        task's further soft targets as ``loss_kd_<name>`` (e.g. detection's teacher confidence and boxes)."""
        kd = self.kd
        if isinstance(teacher_out, torch.Tensor) and not torch.isfinite(teacher_out).all():
            raise EdgevisionError("the teacher's outputs are not finite (inf/NaN) on this batch: it cannot teach; "
                                  "check the teacher artifact (`edgevision eval` it)")
        view = self.base.distill_view(output, teacher_out, batch)
        out = {f"loss_kd_{k}": v for k, v in view.extra.items()}
        s, t, w = view.student, view.teacher, view.weight
        if s.shape != t.shape:
            raise ConfigError(f"teacher logits {tuple(t.shape)} do not match the student's {tuple(s.shape)} "
                              f"(same classes and output layout needed)")
        if kd.zero_mean:
            s, t = zero_mean(s.float()), zero_mean(t.float())
        if kd.objective == "kl+bce":  # kd_bce_loss = α·soft + β·hard, kept apart here for the logs
            if "label" not in batch:
                raise ConfigError(f"objective kl+bce is Stanček's (2024) binary-classification loss; the "
                                  f"{self.base.name} task has no image labels: use objective hinton or mse")
            s, t = two_class_logits(s), two_class_logits(t)
            return {**out, "loss_soft": soft_kl(s, t, kd.temperature, weight=w, scale_t2=kd.scale_t2),
                    "loss_hard": binary_ce(s, batch["label"], weight=w)}
        if kd.objective == "mse":
            out["loss_soft"] = logit_mse(s, t, weight=w)
        else:
            out["loss_soft"] = soft_kl(s, t, kd.temperature, weight=w, scale_t2=kd.scale_t2)
        return out

    def combine(self, parts: dict[str, torch.Tensor]) -> torch.Tensor:
        """Weighted sum of the loss parts for the current phase and objective.

        ``soft`` = loss_soft + Σ loss_kd_* (every teacher-target term); kd phase: α·soft + (1 − α)·hard + hints.
        """
        kd, p = self.kd, parts
        hint = p.get("loss_hint", 0.0)
        if self.phase == "hard":
            return p["loss_hard"] + hint
        soft = p["loss_soft"] + sum(v for k, v in p.items() if k.startswith("loss_kd_"))
        if self.phase == "soft":
            return soft + hint
        if kd.objective == "kl+bce":
            return kd.alpha * soft + kd.beta * p["loss_hard"] + hint
        return kd.alpha * soft + (1 - kd.alpha) * p.get("loss_hard", 0.0) + hint


class PhaseSchedule(Callback):
    """Asplund's (2016) schedule: soft targets for the first ``soft_epochs`` epochs, hard labels afterwards."""

    def __init__(self, task: DistillTask) -> None:
        self.task = task

    def on_epoch_start(self, trainer: Any, epoch: int) -> None:
        if self.task.kd.soft_epochs:
            self.task.phase = "soft" if epoch < self.task.kd.soft_epochs else "hard"
