"""The task protocol: ``step(model, batch) → {"loss", "output", ...}`` plus a metric meter."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ..registry import Registry

TASKS: Registry = Registry("task", builtins=("edgevision.tasks",), plural="tasks")


class Meter:
    """Accumulates step outputs over an epoch and computes metrics at the end."""

    def update(self, out: dict[str, Any], batch: dict[str, Any]) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def compute(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass
class DistillView:
    """What knowledge distillation compares for one batch, as the base task sees it.

    Attributes:
        student: class logits (N, C, ...) of the student, class dimension at 1 (with gradients).
        teacher: the teacher's class logits, same shape.
        weight: optional (N, ...) position weights or bool mask (ignored pixels, teacher objectness per anchor).
        extra: further soft-target loss terms, already reduced (e.g. detection's soft confidence and box targets);
            the distillation task adds them to the soft term and logs each as ``loss_<key>``.
    """

    student: torch.Tensor
    teacher: torch.Tensor
    weight: torch.Tensor | None = None
    extra: dict[str, torch.Tensor] = field(default_factory=dict)


class Task:
    """Base task. Subclasses set ``name``, ``primary`` (metric used to pick the best checkpoint) and ``mode``."""

    name = "task"
    primary = "loss"
    mode = "min"  # "max" when a higher primary metric is better
    spatial_output = False  # True when outputs are per pixel / per anchor (they move with geometric augmentation)

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs

    @classmethod
    def for_data(cls, splits: Any, **options: Any) -> Task:
        """Build the task for a dataset (``DataSplits``); tasks that derive state from the data (anchors) override."""
        return cls(class_names=splits.class_names, **options)

    def adapt_model_kwargs(self, kwargs: dict[str, Any], model_meta: dict[str, Any]) -> dict[str, Any]:
        """Model kwargs this task needs (e.g. anchors per cell), given the registry meta of the chosen model."""
        return kwargs

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **self.kwargs}

    def forward(self, model: nn.Module, batch: dict[str, Any]) -> Any:
        return model(batch["image"])

    def loss(self, output: Any, batch: dict[str, Any]) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def step(self, model: nn.Module, batch: dict[str, Any]) -> dict[str, Any]:
        """One forward pass and its loss. Distillation wraps this method, it does not replace the loop."""
        output = self.forward(model, batch)
        return {"loss": self.loss(output, batch), "output": output}

    def batch_metric(self, out: dict[str, Any], batch: dict[str, Any]) -> float | None:
        """A cheap per-batch value of the primary metric for the progress bar (None: show loss only)."""
        return None

    def chance_loss(self) -> float | None:
        """The training loss of an output that ignores the image (None: the task's loss has no such fixed value).

        The trainer warns when the loss stays there: the network is not learning from its input.
        """
        return None

    def distill_view(self, student_out: Any, teacher_out: Any, batch: dict[str, Any]) -> DistillView:
        """Pair the student's and the teacher's raw outputs for distillation. Default: both are class logits
        (N, C, ...) already. Tasks with richer outputs (detection) or ignored positions (segmentation) override."""
        return DistillView(student_out, teacher_out.to(student_out.device))

    def trainable(self) -> nn.Module | None:
        """Loss-side modules whose parameters train with the model (e.g. distillation hint adapters).

        The trainer adds their parameters to the optimizer and saves their state in ``last.pt``; they are not
        part of the saved model. Most tasks have none.
        """
        return None

    def meter(self) -> Meter:  # pragma: no cover - abstract
        raise NotImplementedError

    def decode(self, output: Any) -> list[dict[str, Any]]:  # pragma: no cover - abstract
        """Turn raw model outputs into per-image predictions (JSON-able dicts)."""
        raise NotImplementedError

    def draw(self, image: np.ndarray, pred: dict[str, Any]) -> np.ndarray:  # pragma: no cover - abstract
        """Draw a prediction onto an RGB uint8 image (H, W, 3)."""
        raise NotImplementedError

    def sample_error(self, output: Any, batch: dict[str, Any]) -> np.ndarray | None:
        """A per-sample error in [0, 1] (B,), 0 = perfect, for ranking the worst mistakes in the eval gallery
        (None: this task cannot rank; the gallery then shows the first samples)."""
        return None

    def describe(self, pred: dict[str, Any]) -> str:
        """One short line for a prediction (``edgevision predict`` prints it)."""
        return f"{pred.get('label', '')} {pred.get('score', 0):.3f}"

    def format_metrics(self, metrics: dict[str, Any]) -> str | None:
        """A multi-line table of the metrics for ``edgevision eval`` (None: the one-line summary is enough)."""
        return None

    def summary(self, metrics: dict[str, Any]) -> str:
        """One line for logs and the progress bar."""
        v = metrics.get(self.primary)
        return f"{self.primary} {v:.4f}" if isinstance(v, float) else ""


def build_task(spec: dict[str, Any]) -> Task:
    spec = dict(spec)
    return TASKS.get(spec.pop("name"))(**spec)
