"""Threshold selection for a target FAR, ROC, and the open-set rates."""

from __future__ import annotations

import numpy as np
import pytest

from edgevision.errors import EdgevisionError
from edgevision.faces.openset import evaluate_openset, rates, roc, tar_at_far, threshold_for_far


@pytest.mark.parametrize("far", [0.1, 0.01, 0.001])
def test_threshold_hits_the_requested_far(far):
    rng = np.random.default_rng(0)
    imp = rng.normal(0.2, 0.1, 20_000)
    gen = rng.normal(0.7, 0.1, 5_000)
    tau = threshold_for_far(imp, far)
    r = rates(gen, imp, tau)
    assert r["far"] <= far  # never above the target on the scores it was chosen on ...
    assert r["far"] >= far - 2 / len(imp)  # ... and as close as the sample allows (smallest such τ)
    # the normal quantile: τ ≈ μ + σ·z(1 − far)
    from statistics import NormalDist

    assert tau == pytest.approx(0.2 + 0.1 * NormalDist().inv_cdf(1 - far), abs=0.02 if far < 0.01 else 0.01)
    assert 0 < r["tar"] <= 1 and r["tar"] == pytest.approx(1 - r["frr"])


def test_threshold_with_ties_and_extremes():
    imp = np.array([0.9, 0.9, 0.5, 0.1])
    assert rates([1.0], imp, threshold_for_far(imp, 0.25))["far"] == 0.0  # a tie cannot be split: reject both
    assert rates([1.0], imp, threshold_for_far(imp, 0.5))["far"] == 0.5
    assert rates([1.0], imp, threshold_for_far(imp, 1.0))["far"] == 1.0
    with pytest.raises(EdgevisionError):
        threshold_for_far([], 0.01)


def test_roc_is_monotone_with_auc_and_eer():
    rng = np.random.default_rng(1)
    gen, imp = rng.normal(1, 1, 2000), rng.normal(-1, 1, 2000)
    r = roc(gen, imp)
    assert np.all(np.diff(r["far"]) >= 0) and np.all(np.diff(r["tar"]) >= 0)
    assert r["far"][0] == 0 and r["tar"][-1] == 1
    assert r["auc"] == pytest.approx(0.921, abs=0.015)  # Φ(2/√2) for two unit normals 2σ apart
    assert r["eer"] == pytest.approx(0.159, abs=0.02)  # Φ(−1)
    perfect = roc([0.9, 0.8], [0.1, 0.2])
    assert perfect["auc"] == pytest.approx(1.0) and perfect["eer"] == 0


def test_validation_threshold_is_applied_to_test():
    rng = np.random.default_rng(2)
    val = (rng.normal(0.7, 0.1, 3000), rng.normal(0.2, 0.1, 3000))
    test = (rng.normal(0.7, 0.1, 3000), rng.normal(0.2, 0.1, 3000))
    out = evaluate_openset(val, test, (0.01,))
    op = out["operating_points"][0]
    assert op["val"]["far"] <= 0.01 and abs(op["test"]["far"] - 0.01) < 0.006
    assert op["test"]["threshold"] == op["val"]["threshold"]
    assert tar_at_far(*test, 0.01)["tar"] == op["test_oracle"]["tar"]
    wrong_top1 = (np.full(10, -np.inf), rng.normal(0.2, 0.1, 100))  # wrong names are never accepted
    assert rates(*wrong_top1, 0.0)["tar"] == 0.0


def test_pair_scores_split_genuine_and_impostor_pairs():
    from edgevision.faces.evaluate import pair_scores

    gallery = (["a", "a", "b"], np.eye(3, dtype=np.float32))
    emb = np.array([[1, 0, 0], [0, 0, 1], [0, 1, 0]], np.float32)
    gen, imp = pair_scores(gallery, emb, ["a", "b", None])
    assert sorted(gen.tolist()) == [0.0, 1.0, 1.0]  # a vs a, a vs a; b vs b
    assert len(imp) == 9 - 3 and imp.max() == 1.0  # the impostor probe matches gallery row 2 ("a") exactly
