"""Ensemble teachers: several teachers averaged into one (Hinton, Vinyals & Dean 2015, §1 and §3).

Hinton et al. distil the knowledge of an *ensemble* into one small model; an ensemble is usually better than
each of its members because their errors differ (e.g. a CNN trained on the user's images and OpenCV's HOG
people detector, whose SVM was trained on other data). The ensemble's predictive distribution is the mean of
its members' class probabilities,

    p̄(c | x) = (1/K) · Σ_k softmax(z_k(x))_c,        logits = log p̄,

so it is softened like any other teacher downstream: ``softmax(log p̄ / T) ∝ p̄^(1/T)``. Written ``a+b+c``
wherever a teacher is expected (``--teacher runs/t+hog``). Its size and latency are the sums of the members'
(every member runs on each image). Classification students only: per-pixel or per-anchor outputs of different
teachers do not average into one target.
"""

from __future__ import annotations

from typing import Any

import torch

from ...data.base import SampleDataset
from ...errors import ConfigError
from ...tasks.kd import probs_to_logits
from .teacher import Teacher


class EnsembleTeacher(Teacher):
    """The mean of its members' class probabilities, as logits ``log p̄``."""

    kind = "ensemble"

    def __init__(self, members: list[Teacher]) -> None:
        if len(members) < 2:
            raise ConfigError(f"an ensemble teacher needs at least two members, got {len(members)}")
        self.members = members
        self.name = "+".join(m.name for m in members)
        self.art = next((m.art for m in members if getattr(m, "art", None) is not None), None)  # data defaults

    def prepare(self, train: SampleDataset, class_names: list[str]) -> None:
        for m in self.members:
            m.prepare(train, class_names)

    def logits(self, x01: torch.Tensor) -> torch.Tensor:
        probs = [m.logits(x01).float().softmax(1) for m in self.members]
        shapes = {tuple(p.shape) for p in probs}
        if len(shapes) != 1:
            raise ConfigError(f"ensemble teacher {self.name}: its members give outputs of different shapes "
                              f"{sorted(shapes)}; every member must score the same classes")
        return probs_to_logits(torch.stack(probs).mean(0))

    def fingerprint(self) -> str:
        return "ensemble:" + "|".join(m.fingerprint() for m in self.members)

    def size_bytes(self) -> int:
        return sum(m.size_bytes() for m in self.members)

    def info(self) -> dict[str, Any]:
        return {**super().info(), "members": [m.info() for m in self.members]}
