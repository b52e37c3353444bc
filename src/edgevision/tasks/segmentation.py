"""Semantic segmentation (Demborg 2018): per-pixel logits (B, C, H, W) against label masks (B, H, W).

Losses: pixel cross-entropy, soft IoU, Dice, or their sums (:mod:`.seglosses`); pixels labelled
``ignore_index`` count in neither loss nor metrics. Metrics: the doc's per-image averages (mA, mIoU, mDice,
mAP_x for x = 0.50…0.95), per-class IoU, and the dataset-level confusion-matrix mIoU
(:mod:`edgevision.metrics.segmentation`). ``decode`` gives a run-length-encoded label map per image;
``draw`` overlays it translucently. Distillation wraps this task like any other: the (B, C, H, W) logits have the
class dimension at 1, as its per-pixel KL expects.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConfigError
from ..metrics.segmentation import confusion_per_image, counts_from_confusion, iou_dice, segmentation_report
from .base import TASKS, DistillView, Meter, Task
from .overlay import overlay, rle_decode, rle_encode
from .seglosses import SEG_LOSSES, match_size, resolve_loss

MAX_UPSAMPLE_FLOATS = 1 << 25  # above this, decode upsamples the label map (nearest) instead of the logits


class SegmentationMeter(Meter):
    """Keeps per-image TP/FP/FN per class (M, C) — enough for every metric, and small even for 100+ classes."""

    def __init__(self, class_names: list[str], ignore_index: int) -> None:
        self.class_names, self.ignore_index = class_names, ignore_index
        self.tp: list[np.ndarray] = []
        self.fp: list[np.ndarray] = []
        self.fn: list[np.ndarray] = []
        self.loss_sum, self.n = 0.0, 0

    def update(self, out: dict[str, Any], batch: dict[str, Any]) -> None:
        logits = match_size(out["output"].detach(), batch["mask"].shape[-2:])
        cm = confusion_per_image(logits.argmax(1), batch["mask"], len(self.class_names), self.ignore_index)
        tp, fp, fn = counts_from_confusion(cm.cpu().numpy())
        self.tp.append(tp)
        self.fp.append(fp)
        self.fn.append(fn)
        self.loss_sum += float(out["loss"]) * len(logits)
        self.n += len(logits)

    def compute(self) -> dict[str, Any]:
        if not self.n:
            return {"loss": float("nan"), "n": 0}
        rep = segmentation_report(np.concatenate(self.tp), np.concatenate(self.fp), np.concatenate(self.fn),
                                  self.class_names)
        return {"loss": self.loss_sum / self.n, **rep}


@TASKS.register("segmentation", description="a class per pixel: cross-entropy / IoU / Dice losses, mIoU")
class SegmentationTask(Task):
    """Per-pixel classification.

    Args:
        class_names: label i is ``class_names[i]``.
        loss: ``ce``, ``iou``, ``dice``, or a sum such as ``ce+dice``.
        ignore_index: mask value excluded from loss and metrics.
        class_weights: optional per-class CE weights (for rare classes).
        smooth: ε of the soft IoU / Dice losses.
        label_smoothing: CE label smoothing.
    """

    name = "segmentation"
    primary = "miou"
    mode = "max"
    spatial_output = True

    def __init__(self, class_names: list[str], loss: str = "ce", ignore_index: int = 255,
                 class_weights: list[float] | None = None, smooth: float = 1.0, label_smoothing: float = 0.0) -> None:
        super().__init__(class_names=list(class_names), loss=loss, ignore_index=ignore_index,
                         class_weights=class_weights, smooth=smooth, label_smoothing=label_smoothing)
        self.class_names = list(class_names)
        bad = [p for p in loss.split("+") if p.strip() not in SEG_LOSSES]
        if bad:
            raise ConfigError(f"segmentation loss {loss!r}: unknown part {bad[0]!r}; allowed: "
                              f"{', '.join(SEG_LOSSES.names())} or sums such as ce+dice")
        if class_weights is not None and len(class_weights) != len(self.class_names):
            raise ConfigError(f"class_weights has {len(class_weights)} values for {len(self.class_names)} classes")
        self.losses = resolve_loss(loss)
        self.ignore_index, self.smooth, self.label_smoothing = ignore_index, smooth, label_smoothing
        self.weight = torch.tensor(class_weights, dtype=torch.float32) if class_weights else None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def loss(self, output: torch.Tensor, batch: dict[str, Any]) -> torch.Tensor:
        target = batch["mask"].long()
        logits = match_size(output, target.shape[-2:])
        kw = {"ignore_index": self.ignore_index, "weight": self.weight, "smooth": self.smooth,
              "label_smoothing": self.label_smoothing}
        return sum(fn(logits, target, **kw) for fn in self.losses)

    def distill_view(self, student_out: torch.Tensor, teacher_out: torch.Tensor, batch: dict[str, Any]
                     ) -> DistillView:
        """Per-pixel distillation (Demborg (2018) eq. 3.4): both logit maps at the mask's size, where the loss is taken
        (bilinear, as :meth:`loss` does), and only pixels not labelled ``ignore_index`` count. Without masks (an
        unlabelled transfer set) the teacher's map is resized to the student's."""
        mask = batch.get("mask")
        hw = tuple(mask.shape[-2:]) if mask is not None else tuple(student_out.shape[-2:])
        s = match_size(student_out, hw)
        t = match_size(teacher_out.to(student_out.device).float(), hw)
        valid = (mask != self.ignore_index) if mask is not None else None  # (B, H, W) bool
        return DistillView(s, t, valid)

    def batch_metric(self, out: dict[str, Any], batch: dict[str, Any]) -> float:
        """The doc's mIoU of this batch (per image, averaged over defined (image, class) pairs)."""
        logits = match_size(out["output"].detach(), batch["mask"].shape[-2:])
        cm = confusion_per_image(logits.argmax(1), batch["mask"], self.num_classes, self.ignore_index)
        iou, _ = iou_dice(*counts_from_confusion(cm.cpu().numpy()))
        return float(np.nanmean(iou)) if (~np.isnan(iou)).any() else 0.0

    def meter(self) -> SegmentationMeter:
        return SegmentationMeter(self.class_names, self.ignore_index)

    def decode(self, output: torch.Tensor | np.ndarray, image_sizes: list[tuple[int, int]] | None = None
               ) -> list[dict[str, Any]]:
        """Per image: the label map (RLE, at the original image size when ``image_sizes`` is given), the area
        share of each class present, the largest non-background class as ``label`` and the mean confidence."""
        logits = torch.as_tensor(np.asarray(output) if not isinstance(output, torch.Tensor) else output).float()
        preds = []
        for i, lg in enumerate(logits):
            size = tuple(image_sizes[i]) if image_sizes else tuple(lg.shape[-2:])
            preds.append(self._decode_one(lg, size))
        return preds

    def _decode_one(self, logits: torch.Tensor, size: tuple[int, int]) -> dict[str, Any]:
        """logits (C, h, w) → prediction dict at ``size`` = (H, W)."""
        if tuple(logits.shape[-2:]) != size and logits.shape[0] * size[0] * size[1] <= MAX_UPSAMPLE_FLOATS:
            logits = F.interpolate(logits[None], size=size, mode="bilinear", align_corners=False)[0]
        prob = torch.softmax(logits, 0)
        conf, labels = prob.max(0)
        lab = labels.numpy().astype(np.int32)
        if lab.shape != size:  # very large images: upsample the label map itself
            import cv2

            lab = cv2.resize(lab, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)
        ids, counts = np.unique(lab, return_counts=True)
        areas = {self.class_names[i]: round(c / lab.size, 6) for i, c in zip(ids.tolist(), counts.tolist())}
        fg = [(c, i) for i, c in zip(ids.tolist(), counts.tolist()) if i != 0] or [(0, 0)]
        top = max(fg)[1]
        return {"label": self.class_names[top], "class_id": int(top), "score": round(float(conf.mean()), 6),
                "areas": areas, "mask": rle_encode(lab)}

    def sample_error(self, output: torch.Tensor, batch: dict[str, Any]) -> np.ndarray:
        """1 − the image's mIoU (over the classes present in its truth or prediction)."""
        logits = match_size(output.detach().float(), batch["mask"].shape[-2:])
        cm = confusion_per_image(logits.argmax(1), batch["mask"], self.num_classes, self.ignore_index)
        iou, _ = iou_dice(*counts_from_confusion(cm.cpu().numpy()))  # (B, C), NaN for absent classes
        valid = ~np.isnan(iou)
        miou = np.where(valid, iou, 0).sum(1) / np.maximum(valid.sum(1), 1)
        return 1 - np.where(valid.any(1), miou, 1.0)

    def draw(self, image: np.ndarray, pred: dict[str, Any]) -> np.ndarray:
        """Translucent class colours (label 0, the background, left clear), class boundaries and a legend."""
        return overlay(image, rle_decode(pred["mask"]), self.class_names)

    def summary(self, metrics: dict[str, Any]) -> str:
        keys = ("miou", "mdice", "mpa")
        return "  ".join(f"{k} {metrics[k]:.4f}" for k in keys if isinstance(metrics.get(k), float))
