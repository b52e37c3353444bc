"""Open-set verification: ROC, FAR / FRR, TAR@FAR, and a threshold chosen on validation for a target FAR.

Scores are similarities (higher = same person). For a threshold τ, a probe is accepted when score ≥ τ:

- FAR(τ) = #{impostor scores ≥ τ} / #impostors  (false accepts);
- FRR(τ) = #{genuine scores < τ} / #genuine     (false rejects); TAR = 1 − FRR.

:func:`threshold_for_far` returns the smallest τ whose FAR does not exceed the target on the scores it is
given (the validation split); the test split then reports the FAR and TAR actually reached at that τ. Björgvinsdóttir &
Seibold (2016) proposed a top-probability threshold against impostors (0.62 % accepted at 0.8, 0.19 % at 0.9 on LFW)
but did not choose it on held-out data; this does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import EdgevisionError


def _check(genuine: np.ndarray, impostor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    g, i = np.asarray(genuine, np.float64).ravel(), np.asarray(impostor, np.float64).ravel()
    if not len(g) or not len(i):
        raise EdgevisionError(f"open-set evaluation needs genuine and impostor scores (got {len(g)} and {len(i)})")
    return g, i


def threshold_for_far(impostor: np.ndarray, far: float) -> float:
    """Smallest τ with FAR(τ) ≤ ``far`` on these impostor scores (accept iff score ≥ τ).

    With n impostors at most ⌊far·n⌋ may be accepted, so τ is just above the (⌊far·n⌋+1)-th highest score.
    """
    s = np.sort(np.asarray(impostor, np.float64).ravel())[::-1]  # descending
    if not len(s):
        raise EdgevisionError("threshold_for_far: no impostor scores")
    k = int(np.floor(far * len(s) + 1e-9))  # impostors allowed through
    return float(np.nextafter(s[k], np.inf)) if k < len(s) else float(s[-1])


def rates(genuine: np.ndarray, impostor: np.ndarray, tau: float) -> dict[str, float]:
    """FAR, FRR and TAR at threshold ``tau``."""
    g, i = _check(genuine, impostor)
    far, frr = float((i >= tau).mean()), float((g < tau).mean())
    return {"threshold": float(tau), "far": far, "frr": frr, "tar": 1 - frr}


def roc(genuine: np.ndarray, impostor: np.ndarray, points: int = 200) -> dict[str, Any]:
    """ROC over all distinct thresholds (vectorized), subsampled to about ``points`` rows, plus AUC and EER."""
    g, i = _check(genuine, impostor)
    taus = np.unique(np.concatenate([g, i]))[::-1]  # descending thresholds
    far = 1 - np.searchsorted(np.sort(i), taus, side="left") / len(i)  # fraction of impostors ≥ τ
    tar = 1 - np.searchsorted(np.sort(g), taus, side="left") / len(g)
    far, tar = np.concatenate([[0.0], far, [1.0]]), np.concatenate([[0.0], tar, [1.0]])
    taus = np.concatenate([[np.inf], taus, [-np.inf]])
    auc = float(np.trapezoid(tar, far))
    eer_i = int(np.argmin(np.abs(far - (1 - tar))))
    keep = np.unique(np.linspace(0, len(far) - 1, min(points, len(far))).round().astype(int))
    return {"far": far[keep].tolist(), "tar": tar[keep].tolist(),
            "threshold": [float(t) if np.isfinite(t) else None for t in taus[keep]], "auc": auc,
            "eer": float((far[eer_i] + 1 - tar[eer_i]) / 2)}


def tar_at_far(genuine: np.ndarray, impostor: np.ndarray, far: float) -> dict[str, float]:
    """TAR at the threshold whose FAR ≤ ``far`` on the same scores (the oracle operating point)."""
    return rates(genuine, impostor, threshold_for_far(impostor, far))


def evaluate_openset(val: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
                     targets: tuple[float, ...] = (0.01, 0.001)) -> dict[str, Any]:
    """Choose τ on ``val`` (genuine, impostor) per target FAR; report the rates reached on ``test``."""
    out: dict[str, Any] = {"n": {"val_genuine": len(val[0]), "val_impostor": len(val[1]),
                                 "test_genuine": len(test[0]), "test_impostor": len(test[1])},
                           "roc_test": roc(*test), "operating_points": []}
    for far in targets:
        tau = threshold_for_far(val[1], far)
        out["operating_points"].append({"target_far": far, "val": rates(*val, tau), "test": rates(*test, tau),
                                        "test_oracle": tar_at_far(*test, far)})
    return out
