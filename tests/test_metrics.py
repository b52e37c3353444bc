import numpy as np
from sklearn.metrics import precision_recall_fscore_support, roc_auc_score

from edgevision.metrics.classification import (
    binary_at_thresholds,
    classification_report,
    confusion_matrix,
    per_class_prf,
    topk_accuracy,
)


def test_confusion_and_prf_hand_case():
    labels = np.array([0, 0, 1, 1, 2, 2])
    pred = np.array([0, 1, 1, 1, 0, 2])
    cm = confusion_matrix(pred, labels, 3)
    assert cm.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    prf = per_class_prf(cm)
    assert np.allclose(prf["precision"], [0.5, 2 / 3, 1.0])
    assert np.allclose(prf["recall"], [0.5, 1.0, 0.5])
    p, r, f, _ = precision_recall_fscore_support(labels, pred, zero_division=0)
    assert np.allclose(prf["f1"], f, atol=1e-6) and np.allclose(prf["precision"], p, atol=1e-6)
    assert np.allclose(prf["recall"], r, atol=1e-6)


def test_topk():
    scores = np.array([[0.1, 0.5, 0.4], [0.8, 0.15, 0.05]])
    assert topk_accuracy(scores, np.array([2, 0]), 1) == 0.5
    assert topk_accuracy(scores, np.array([2, 0]), 2) == 1.0


def test_binary_thresholds_and_auc_against_sklearn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    p = np.clip(0.3 * y + rng.random(500) * 0.7, 0, 1)
    out = binary_at_thresholds(p, y)
    pred = p >= 0.7
    pr, rc, f1, _ = precision_recall_fscore_support(y, pred, average="binary")
    assert np.isclose(out["precision_at_0.7"], pr) and np.isclose(out["recall_at_0.7"], rc)
    assert np.isclose(out["f1_at_0.7"], f1) and np.isclose(out["accuracy_at_0.7"], (pred == y).mean())
    logits = np.stack([np.zeros(500), np.log(p + 1e-9) - np.log(1 - p + 1e-9)], 1)
    rep = classification_report(logits, y, ["no", "yes"])
    assert np.isclose(rep["roc_auc"], roc_auc_score(y, p), atol=1e-6)
