"""The teacher interface every distillation teacher implements (artifacts, OpenCV detectors, ensembles)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ...data.base import SampleDataset


class Teacher:
    """Base teacher: ``logits(x01)`` → (B, C, ...) for images (B, C, H, W) in [0, 1]."""

    name = "teacher"
    kind = "teacher"
    module: nn.Module | None = None  # the network, when there is one (feature hints need it)
    input_shape: tuple[int, int, int] | None = None  # what ``module`` takes (C, H, W)

    def logits(self, x01: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def prepare(self, train: SampleDataset, class_names: list[str]) -> None:
        """Fit anything that depends on the training split (e.g. score calibration). Default: nothing."""

    def fingerprint(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def size_bytes(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "size_bytes": self.size_bytes()}
