"""Segmentation metrics of Demborg (2018) (§4.2.1), per image and averaged, plus the dataset-level ones.

For image *i* and class *j* with true positives TP, false positives FP and false negatives FN (pixels labelled
``ignore_index`` are left out)::

    IoU_i^j  = TP / (TP + FP + FN)            Dice_i^j = 2 TP / (2 TP + FP + FN)
    mA       = 1/M Σ_i (Σ_j TP_i^j) / N_i      (mean over images of the pixel accuracy)
    mIoU     = 1/(MC) Σ_i Σ_j IoU_i^j          mDice = 1/(MC) Σ_i Σ_j Dice_i^j
    mAP_x    = 1/(MC) Σ_i Σ_j [IoU_i^j ≥ x]    for x = 0.50, 0.55, …, 0.95

A class that is absent from both the ground truth and the prediction of an image has TP + FP + FN = 0: its IoU is
undefined and that (image, class) pair is left out of the averages (so "MC" counts the defined pairs). For the
doc's two-class setting every pair is defined. Alongside, the usual dataset-level numbers come from one
confusion matrix summed over all pixels: ``iou_dataset[j] = TP^j / (TP^j + FP^j + FN^j)`` and ``miou_dataset``.
"""

from __future__ import annotations

import numpy as np
import torch

THRESHOLDS = tuple(round(0.5 + 0.05 * k, 2) for k in range(10))


def confusion_per_image(pred: torch.Tensor, gt: torch.Tensor, num_classes: int, ignore_index: int = 255
                        ) -> torch.Tensor:
    """(M, C, C) pixel counts per image, rows = true class, columns = predicted, from label maps (M, H, W)."""
    m, c = len(gt), num_classes
    gt = gt.long()
    valid = (gt != ignore_index) & (gt >= 0) & (gt < c)
    img = torch.arange(m, device=gt.device).view(-1, *([1] * (gt.ndim - 1))).expand_as(gt)
    idx = (img * c + gt) * c + pred.long()
    return torch.bincount(idx[valid], minlength=m * c * c).view(m, c, c)


def counts_from_confusion(cm: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TP, FP, FN per (image, class) from confusion matrices (..., C, C)."""
    cm = np.asarray(cm, dtype=np.int64)
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    return tp, cm.sum(-2) - tp, cm.sum(-1) - tp


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.maximum(den, 1), np.nan)


def iou_dice(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """IoU = TP/(TP+FP+FN) and Dice = 2TP/(2TP+FP+FN), NaN where a class is absent from truth and prediction."""
    return _ratio(tp, tp + fp + fn), _ratio(2 * tp, 2 * tp + fp + fn)


def _nanmean(a: np.ndarray) -> float:
    a = a[~np.isnan(a)]
    return float(a.mean()) if a.size else float("nan")


def segmentation_report(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, class_names: list[str]) -> dict:
    """All of the doc's metrics from per-image counts (M, C) (see the module docstring)."""
    iou, dice = iou_dice(tp, fp, fn)
    pixels = tp.sum(1) + fn.sum(1)  # valid pixels per image: every true label is a TP or an FN
    pa = _ratio(tp.sum(1), pixels)
    defined = ~np.isnan(iou)
    out = {"mpa": _nanmean(pa), "miou": _nanmean(iou), "mdice": _nanmean(dice)}
    for x in THRESHOLDS:
        out[f"map_{round(x * 100)}"] = float((iou[defined] >= x - 1e-12).mean()) if defined.any() else float("nan")
    out["map"] = float(np.mean([out[f"map_{round(x * 100)}"] for x in THRESHOLDS]))
    ttp, tfp, tfn = tp.sum(0), fp.sum(0), fn.sum(0)
    ds_iou, ds_dice = iou_dice(ttp, tfp, tfn)
    out.update({"miou_dataset": _nanmean(ds_iou), "mdice_dataset": _nanmean(ds_dice),
                "pixel_accuracy": float(ttp.sum() / max(int(ttp.sum() + tfn.sum()), 1)), "n": len(tp),
                "class_names": list(class_names),
                "per_class": {"iou": _col_means(iou), "dice": _col_means(dice), "iou_dataset": _clean(ds_iou),
                              "images_present": (tp + fn > 0).sum(0).tolist()},
                "map_curve": {"thresholds": list(THRESHOLDS),
                              "values": [out[f"map_{round(x * 100)}"] for x in THRESHOLDS]}})
    return out


def _col_means(a: np.ndarray) -> list[float | None]:
    return [None if np.isnan(v) else round(float(v), 6) for v in (_nanmean(a[:, j]) for j in range(a.shape[1]))]


def _clean(a: np.ndarray) -> list[float | None]:
    return [None if np.isnan(v) else round(float(v), 6) for v in a]


def segmentation_metrics(pred: np.ndarray | torch.Tensor, gt: np.ndarray | torch.Tensor, class_names: list[str],
                         ignore_index: int = 255) -> dict:
    """Metrics of predicted label maps (M, H, W) against true ones (M, H, W)."""
    cm = confusion_per_image(torch.as_tensor(np.asarray(pred)), torch.as_tensor(np.asarray(gt)), len(class_names),
                             ignore_index)
    return segmentation_report(*counts_from_confusion(cm.numpy()), class_names)
