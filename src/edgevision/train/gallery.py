"""The eval gallery: sample predictions drawn with the task's overlay, and the worst mistakes of the split.

While ``eval`` runs, :class:`GalleryCollector` keeps the first ``k`` samples and the ``k`` with the largest
:meth:`Task.sample_error <edgevision.tasks.base.Task.sample_error>` (1 − p(true) for classification, 1 − IoU for
localization, unmatched share for detection, 1 − mIoU for segmentation), vectorized per batch with a running
top-k. At the end each is drawn (upscaled so labels stay readable, ground truth in green) into
``gallery/<kind>_<n>.png`` with ``gallery.json`` listing captions — the report inlines them without any model
code.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from ..tasks.base import Task
from ..utils.io import write_bytes, write_json

MIN_SIDE = 160  # gallery images are upscaled to at least this many pixels


class GalleryCollector:
    """Collects (image, output, truth, error) of the first ``k`` and the worst ``k`` samples of an evaluation."""

    def __init__(self, task: Task, mean: tuple[float, ...], std: tuple[float, ...], k: int = 8) -> None:
        self.task, self.k = task, k
        self.mean = torch.tensor(mean).view(1, -1, 1, 1)
        self.std = torch.tensor(std).view(1, -1, 1, 1)
        self.first: list[dict[str, Any]] = []
        self.worst: list[dict[str, Any]] = []  # sorted by error, largest first
        self.ranked = True

    def _item(self, out: torch.Tensor, batch: dict[str, Any], i: int, err: float | None) -> dict[str, Any]:
        img = ((batch["image"][i:i + 1] * self.std + self.mean).clamp(0, 1) * 255).round().byte()[0]
        truth = {k: batch[k][i] for k in ("label", "box", "boxes", "labels", "mask") if k in batch}
        return {"image": img.permute(1, 2, 0).numpy(), "output": out[i:i + 1].detach().float().clone(),
                "truth": truth, "error": err, "id": int(batch["id"][i]) if "id" in batch else None}

    def update(self, step_out: dict[str, Any], batch: dict[str, Any]) -> None:
        out = step_out["output"]
        if not isinstance(out, torch.Tensor):  # tuple outputs (hint distillation etc.): nothing to draw
            return
        errs = self.task.sample_error(out, batch) if self.ranked else None
        self.ranked = errs is not None
        for i in range(min(self.k - len(self.first), len(out))):
            self.first.append(self._item(out, batch, i, None if errs is None else float(errs[i])))
        if errs is None:
            return
        floor = self.worst[-1]["error"] if len(self.worst) >= self.k else -np.inf
        for i in np.argsort(-errs)[:self.k]:
            if errs[i] > floor and errs[i] > 0:
                self.worst.append(self._item(out, batch, int(i), float(errs[i])))
        self.worst = sorted(self.worst, key=lambda r: -r["error"])[:self.k]

    def write(self, folder: Path) -> dict[str, Any] | None:
        """Draw and save the gallery; returns the ``gallery.json`` document (None when nothing was collected)."""
        if not self.first:
            return None
        doc: dict[str, Any] = {"task": self.task.name, "ranked": self.ranked,
                               "error": ERROR_NAMES.get(self.task.name, "error"), "samples": [], "worst": []}
        for kind, items in (("samples", self.first), ("worst", self.worst)):
            for n, it in enumerate(items):
                rgb, caption = self._draw(it)
                _ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
                name = f"gallery/{kind}_{n:02d}.png"
                write_bytes(folder / name, buf.tobytes())
                doc[kind].append({"file": name, "id": it["id"], "error": it["error"], "caption": caption})
        write_json(folder / "gallery.json", doc)
        return doc

    def _draw(self, it: dict[str, Any]) -> tuple[np.ndarray, str]:
        img = it["image"]
        img = np.repeat(img, 3, 2) if img.shape[2] == 1 else img
        h, w = img.shape[:2]
        s = max(1, int(np.ceil(MIN_SIDE / min(h, w))))
        big = cv2.resize(img, (w * s, h * s), interpolation=cv2.INTER_NEAREST) if s > 1 else img.copy()
        if "image_sizes" in inspect.signature(self.task.decode).parameters:
            pred = self.task.decode(it["output"], image_sizes=[big.shape[:2]])[0]
        else:  # classification: nothing to scale
            pred = self.task.decode(it["output"])[0]
        big = _draw_truth(np.ascontiguousarray(big), it["truth"], s)
        out = self.task.draw(big, pred)
        return out, _caption(self.task, pred, it)


ERROR_NAMES = {"classification": "1 − p(true class)", "localization": "1 − IoU",
               "detection": "unmatched share at IoU 0.5", "segmentation": "1 − image mIoU"}


def _draw_truth(img: np.ndarray, truth: dict[str, Any], s: int) -> np.ndarray:
    """Ground-truth boxes in green (scaled by ``s``) under the prediction's overlay."""
    boxes = truth.get("boxes")
    if boxes is None and "box" in truth:
        boxes = truth["box"].reshape(1, 4)
    for b in (boxes.numpy() if boxes is not None else np.zeros((0, 4))) * s:
        x1, y1, x2, y2 = (round(v) for v in b)
        cv2.rectangle(img, (x1, y1), (x2, y2), (40, 220, 40), 2)
    return img


def _caption(task: Task, pred: dict[str, Any], it: dict[str, Any]) -> str:
    parts = [f"id {it['id']}"] if it["id"] is not None else []
    names = getattr(task, "class_names", None)
    if "label" in it["truth"] and names and task.name == "classification":
        parts.append(f"true {names[int(it['truth']['label'])]}")
    parts.append(f"predicted {task.describe(pred)}")
    if it["error"] is not None:
        parts.append(f"error {it['error']:.3f}")
    return " · ".join(parts)
