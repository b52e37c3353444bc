"""Classification metrics: top-k, confusion matrix, per-class precision/recall/F1, thresholds and ROC-AUC."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

THRESHOLDS = (0.5, 0.7, 0.8, 0.9, 0.95)  # Stanček (2024) reports 0.70–0.95; 0.5 is the usual default


def topk_accuracy(scores: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Share of samples whose label is among the ``k`` highest scores. scores (N, C), labels (N,)."""
    if len(labels) == 0:
        return float("nan")
    k = min(k, scores.shape[1])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return float((top == labels[:, None]).any(1).mean())


def confusion_matrix(pred: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """(C, C) counts with rows = true class, columns = predicted class."""
    return np.bincount(labels * num_classes + pred, minlength=num_classes**2).reshape(num_classes, num_classes)


def per_class_prf(cm: np.ndarray) -> dict[str, list[float]]:
    """Precision = TP/(TP+FP), recall = TP/(TP+FN), F1 = 2PR/(P+R) per class (0 where undefined)."""
    tp = np.diag(cm).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.nan_to_num(tp / cm.sum(0))
        r = np.nan_to_num(tp / cm.sum(1))
        f1 = np.nan_to_num(2 * p * r / (p + r))
    return {"precision": p.round(6).tolist(), "recall": r.round(6).tolist(), "f1": f1.round(6).tolist()}


def binary_at_thresholds(p_pos: np.ndarray, y: np.ndarray, thresholds=THRESHOLDS) -> dict[str, float]:
    """Accuracy, precision, recall and F1 of ``p_pos ≥ t`` against binary ``y`` for each threshold ``t``."""
    out: dict[str, float] = {}
    for t in thresholds:
        pred = p_pos >= t
        tp, fp = float((pred & (y == 1)).sum()), float((pred & (y == 0)).sum())
        fn = float((~pred & (y == 1)).sum())
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        out[f"accuracy_at_{t}"] = float((pred == (y == 1)).mean()) if len(y) else float("nan")
        out[f"precision_at_{t}"] = prec
        out[f"recall_at_{t}"] = rec
        out[f"f1_at_{t}"] = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return out


def roc_auc(p_pos: np.ndarray, y: np.ndarray) -> float:
    """Area under the ROC curve; NaN when only one class is present."""
    if len(np.unique(y)) < 2:
        return float("nan")
    return float(roc_auc_score(y, p_pos))


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def classification_report(logits: np.ndarray, labels: np.ndarray, class_names: list[str]) -> dict:
    """All classification metrics from logits (N, C) and labels (N,)."""
    c = len(class_names)
    pred = logits.argmax(1)
    cm = confusion_matrix(pred, labels, c)
    prf = per_class_prf(cm)
    out = {"top1": topk_accuracy(logits, labels, 1), "top5": topk_accuracy(logits, labels, 5),
           "macro_f1": float(np.mean(prf["f1"])), "n": len(labels), "per_class": prf,
           "confusion": cm.tolist(), "class_names": list(class_names)}
    if c == 2:
        p = softmax(logits)[:, 1]
        out.update(binary_at_thresholds(p, labels))
        out["roc_auc"] = roc_auc(p, labels)
    return out
