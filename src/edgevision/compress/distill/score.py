"""Teacher-vs-student evaluation: metrics of the teacher on held-out data, sizes, latency, and Stanček's (2024) score.

Distillation score (Stanček 2024, Stanček 2024)::

    DS = α · (size_s / size_t) + (1 − α) · (1 − acc_s / acc_t),   α = 0.5

Lower is better; below 0 the student is both smaller and more accurate than its teacher (the thesis: −0.15).
Sizes are fp32 parameter bytes; accuracies are measured on the held-out test split, never on training images.
"""

from __future__ import annotations

from typing import Any

import cv2
import torch
from torch import nn

from ...data.loader import BatchLoader
from ...tasks.base import Task
from ...utils.timing import measure
from .teachers import Teacher


def distillation_score(size_student: float, size_teacher: float, acc_student: float, acc_teacher: float,
                       alpha: float = 0.5) -> float:
    """``α·(size_s/size_t) + (1 − α)·(1 − acc_s/acc_t)``; see the module docstring."""
    if size_teacher <= 0 or acc_teacher <= 0:
        return float("nan")
    return alpha * size_student / size_teacher + (1 - alpha) * (1 - acc_student / acc_teacher)


@torch.inference_mode()
def evaluate_teacher(teacher: Teacher, task: Task, loader: BatchLoader, mean: list[float], std: list[float]
                     ) -> dict[str, Any]:
    """The base task's metrics of the teacher's outputs on ``loader`` (its images de-normalized to [0, 1])."""
    m = torch.tensor(mean).view(1, -1, 1, 1)
    s = torch.tensor(std).view(1, -1, 1, 1)
    meter = task.meter()
    for batch in loader:
        if "image" not in batch:
            continue
        logits = teacher.logits((batch["image"] * s + m).clamp(0, 1)).float()
        parts = getattr(task, "loss_parts", None)  # detection/localization meters also log the loss parts
        out = dict(parts(logits, batch)) if parts is not None else {"loss": task.loss(logits, batch)}
        meter.update({**out, "output": logits}, batch)
    return meter.compute()


def ms_per_image(fn, x: torch.Tensor, budget_s: float = 1.0, threads: int = 1) -> dict[str, float]:
    """Batch-1 latency of ``fn(x)`` (median after a warm-up) with ``threads`` torch and OpenCV threads.

    One thread by default: an edge device runs one image at a time, and on a shared 2-core machine a 2-thread
    OpenMP region stalls whenever another process holds a core, which makes medians bimodal.
    """
    prev_t, prev_cv = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    try:
        with torch.inference_mode():
            r = measure(lambda: fn(x), warmup=3, min_runs=10, budget_s=budget_s)
    finally:
        torch.set_num_threads(prev_t)
        cv2.setNumThreads(prev_cv)
    return {"ms_per_image": round(r["p50_ms"], 4), "p90_ms": round(r["p90_ms"], 4), "threads": threads}


def student_latency(model: nn.Module, x_norm: torch.Tensor, budget_s: float = 1.0, threads: int = 1
                    ) -> dict[str, float]:
    model.eval()
    return ms_per_image(model, x_norm, budget_s, threads)
