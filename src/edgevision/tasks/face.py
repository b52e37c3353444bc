"""Face identity training with a margin-based softmax (CosFace / ArcFace) on cosine logits.

The model's head outputs ``z_j = s·cos θ_j`` (:class:`~edgevision.models.facenet.CosineLinear`). The loss
moves the target logit by a margin before the softmax cross-entropy:

- CosFace (Wang et al. 2018): ``z_y = s·(cos θ_y − m)``;
- ArcFace (Deng et al. 2019): ``z_y = s·cos(θ_y + m)`` (for θ_y + m > π the CosFace form is used, as in the
  paper's "easy margin"-free variant);
- ``none``: plain softmax on the (scaled) cosine — with a linear head, the doc's closed-set classifier.

At evaluation the raw logits are used, so top-1 is closed-set identification and the rest of the
classification machinery (metrics, decode, draw) applies unchanged.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
import torch.nn.functional as F

from .base import TASKS
from .classification import ClassificationTask


def margin_logits(logits: torch.Tensor, labels: torch.Tensor, kind: str, margin: float, scale: float
                  ) -> torch.Tensor:
    """Apply the CosFace or ArcFace margin to the target column of ``logits`` = s·cos θ (B, C)."""
    if kind == "none" or margin == 0:
        return logits
    onehot = F.one_hot(labels, logits.shape[1]).bool()
    cos = (logits / scale).clamp(-1 + 1e-6, 1 - 1e-6)
    if kind == "cosface":
        target = cos - margin
    else:  # arcface: cos(θ + m) where θ + m ≤ π, else the CosFace penalty keeps it monotonic
        theta = torch.acos(cos)
        target = torch.where(theta + margin <= math.pi, torch.cos(theta + margin), cos - margin * math.sin(margin))
    return torch.where(onehot, target * scale, logits)


@TASKS.register("face", description="identity embeddings trained with a CosFace margin softmax")
class FaceTask(ClassificationTask):
    """Identity classification whose training loss is a margin softmax; metrics are the classification ones."""

    name = "face"

    def __init__(self, class_names: list[str], margin_type: Literal["cosface", "arcface", "none"] = "cosface",
                 margin: float = 0.35, scale: float = 30.0, label_smoothing: float = 0.0) -> None:
        if margin_type not in ("cosface", "arcface", "none"):
            raise ValueError(f"margin_type must be cosface, arcface or none, got {margin_type!r}")
        if not 0 <= margin < 1.5:
            raise ValueError(f"margin must be in [0, 1.5), got {margin}")
        super().__init__(class_names, label_smoothing)
        self.margin_type, self.margin, self.scale = margin_type, margin, scale
        self.kwargs.update(margin_type=margin_type, margin=margin, scale=scale)

    def chance_loss(self) -> float | None:
        """None: a margin softmax at a constant output is not ``ln K`` (the margin and the scale shift it)."""
        return None

    def adapt_model_kwargs(self, kwargs: dict[str, Any], model_meta: dict[str, Any]) -> dict[str, Any]:
        """The model's cosine head uses the task's scale ``s``."""
        return {**kwargs, "scale": self.scale} if model_meta.get("family") == "face" else kwargs

    def loss(self, output: torch.Tensor, batch: dict[str, Any]) -> torch.Tensor:
        z = output.float()
        if torch.is_grad_enabled():  # the margin is a training device; validation loss is on the raw logits
            z = margin_logits(z, batch["label"], self.margin_type, self.margin, self.scale)
        return F.cross_entropy(z, batch["label"], label_smoothing=self.label_smoothing)
