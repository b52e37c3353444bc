"""Image classification: softmax cross-entropy, top-1/top-5, per-class P/R/F1, confusion, ROC-AUC (binary)."""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..metrics.classification import classification_report, softmax
from .base import TASKS, Meter, Task


class ClassificationMeter(Meter):
    def __init__(self, class_names: list[str]) -> None:
        self.class_names = class_names
        self.logits: list[np.ndarray] = []
        self.labels: list[np.ndarray] = []
        self.loss_sum, self.n = 0.0, 0

    def update(self, out: dict[str, Any], batch: dict[str, Any]) -> None:
        logits = out["output"].detach().float()
        self.logits.append(logits.numpy())
        self.labels.append(batch["label"].numpy())
        self.loss_sum += float(out["loss"]) * len(logits)
        self.n += len(logits)

    def compute(self) -> dict[str, Any]:
        if not self.n:
            return {"loss": float("nan"), "n": 0}
        rep = classification_report(np.concatenate(self.logits), np.concatenate(self.labels), self.class_names)
        return {"loss": self.loss_sum / self.n, **rep}


@TASKS.register("classification", description="one label per image: cross-entropy, top-1/top-5, macro F1")
class ClassificationTask(Task):
    """Cross-entropy ``CE = −log softmax(z)_y`` (optionally label-smoothed) on logits (B, C)."""

    name = "classification"
    primary = "top1"
    mode = "max"

    def __init__(self, class_names: list[str], label_smoothing: float = 0.0) -> None:
        super().__init__(class_names=list(class_names), label_smoothing=label_smoothing)
        self.class_names = list(class_names)
        self.label_smoothing = label_smoothing

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def loss(self, output: torch.Tensor, batch: dict[str, Any]) -> torch.Tensor:
        return F.cross_entropy(output.float(), batch["label"], label_smoothing=self.label_smoothing)

    def batch_metric(self, out: dict[str, Any], batch: dict[str, Any]) -> float:
        return float((out["output"].detach().argmax(1) == batch["label"]).float().mean())

    def chance_loss(self) -> float | None:
        """``ln K``: cross-entropy (smoothed or not) of the uniform output ``softmax(z) = 1/K``."""
        return math.log(self.num_classes) if self.num_classes > 1 else None

    def meter(self) -> ClassificationMeter:
        return ClassificationMeter(self.class_names)

    def decode(self, output: torch.Tensor | np.ndarray, k: int = 3) -> list[dict[str, Any]]:
        probs = softmax(np.asarray(output, dtype=np.float64))
        top = np.argsort(-probs, 1)[:, :k]
        return [{"label": self.class_names[t[0]], "class_id": int(t[0]), "score": float(p[t[0]]),
                 "topk": [{"label": self.class_names[i], "score": float(p[i])} for i in t]} for p, t in zip(probs, top)]

    def sample_error(self, output: torch.Tensor, batch: dict[str, Any]) -> np.ndarray:
        """1 − p(true class): confident mistakes rank first."""
        probs = softmax(np.asarray(output.detach().float(), dtype=np.float64))
        return 1 - probs[np.arange(len(probs)), batch["label"].numpy()]

    def draw(self, image: np.ndarray, pred: dict[str, Any]) -> np.ndarray:
        """Label, score and a score bar in the top-left corner."""
        out = image.copy()
        w = out.shape[1]
        scale = max(0.4, w / 640)
        text = f"{pred['label']} {pred['score']:.2f}"
        cv2.rectangle(out, (0, 0), (w, int(28 * scale) + 8), (0, 0, 0), -1)
        cv2.putText(out, text, (4, int(20 * scale) + 2), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, (255, 255, 255), 1,
                    cv2.LINE_AA)
        cv2.rectangle(out, (0, int(28 * scale) + 4), (int(w * pred["score"]), int(28 * scale) + 8), (0, 200, 0), -1)
        return out
