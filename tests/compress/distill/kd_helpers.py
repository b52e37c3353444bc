"""Helpers for the distillation tests: tiny teacher artifacts and a recording stub teacher."""

from __future__ import annotations

from pathlib import Path

import torch

from edgevision.artifacts import save_model
from edgevision.compress.distill.teachers import Teacher
from edgevision.models import build_model

CLASSES = ["circle", "square", "triangle", "star"]


def make_teacher_artifact(path: Path, seed: int = 0, size: int = 24, classes: list[str] | None = None,
                          data: dict | None = None) -> Path:
    """A random-weight student_cnn saved as an artifact (what `train` would leave, minus the training)."""
    classes = classes or CLASSES
    torch.manual_seed(seed)
    model = build_model("student_cnn", width=8, depth=2, num_classes=len(classes), in_channels=3)
    pre = {"input_size": [size, size], "channels": 3, "mean": [0.5] * 3, "std": [0.25] * 3, "resize": "stretch",
           "color": "RGB", "scale": 1 / 255}
    return save_model(path, model, task={"name": "classification", "class_names": classes, "label_smoothing": 0.0},
                      preprocess=pre, meta={"data": data} if data else {})


class RecordingTeacher(Teacher):
    """A linear teacher on mean colour that records every input it is given."""

    name = "recording"

    def __init__(self, num_classes: int = 4) -> None:
        torch.manual_seed(1)
        self.module = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                                          torch.nn.Linear(3, num_classes))
        self.seen: list[torch.Tensor] = []

    def logits(self, x01: torch.Tensor) -> torch.Tensor:
        self.seen.append(x01.clone())
        return self.module(x01)

    def fingerprint(self) -> str:
        return "recording:1"

    def size_bytes(self) -> int:
        return 60
