"""1-D k-means: the same fixed point as scikit-learn's Lloyd, the three initializations, and weight sharing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans

from edgevision.compress.sharing.cluster import cluster_weight
from edgevision.compress.sharing.kmeans import init_centroids, kmeans_1d


@pytest.mark.parametrize("init", ["linear", "density", "random"])
def test_matches_sklearn_lloyd(init: str) -> None:
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-1, 1, 4000), rng.normal(0.3, 0.05, 1000)])
    xs = np.sort(x)
    c0 = init_centroids(xs, 12, init, seed=5)
    ours, labels = kmeans_1d(x, 12, init, seed=5)
    ref = KMeans(12, init=c0.reshape(-1, 1), n_init=1, algorithm="lloyd", tol=0, max_iter=300).fit(x.reshape(-1, 1))
    centers = ref.cluster_centers_.ravel()
    np.testing.assert_allclose(ours, np.sort(centers), rtol=0, atol=1e-9)
    rank = np.argsort(np.argsort(centers))  # sklearn's cluster j is our sorted cluster rank[j]
    np.testing.assert_array_equal(labels, rank[ref.labels_])


def test_initializations() -> None:
    xs = np.sort(np.random.default_rng(1).laplace(0, 0.1, 10_000))
    lin = init_centroids(xs, 8, "linear")
    assert lin[0] == xs[0] and lin[-1] == xs[-1] and np.allclose(np.diff(lin), np.diff(lin)[0])  # keeps the tails
    dens = init_centroids(xs, 8, "density")
    assert np.abs(dens).max() < np.abs(lin).max() / 2  # density crowds the centroids near zero
    rnd = init_centroids(xs, 8, "random", seed=3)
    assert set(rnd) <= set(xs)


def test_fewer_distinct_values_than_k_are_kept_exactly() -> None:
    x = np.array([0.5, -0.25, 0.5, 0.125])
    c, lab = kmeans_1d(x, 8)
    assert c.tolist() == [-0.25, 0.125, 0.5] and np.array_equal(c[lab], x)


@pytest.mark.parametrize("per_channel", [False, True])
def test_cluster_weight_keeps_zeros_and_limits_values(per_channel: bool) -> None:
    g = torch.Generator().manual_seed(0)
    w = torch.randn(16, 8, 3, 3, generator=g) * (torch.rand(16, 8, 3, 3, generator=g) > 0.6)
    shared, labels, n_clusters = cluster_weight(w, 3, "linear", per_channel)
    assert torch.equal(shared == 0, w == 0) and torch.all(labels[w == 0] == -1)
    if per_channel:
        assert n_clusters == 16 * 8 and all(len(r[r != 0].unique()) <= 8 for r in shared)
    else:
        assert n_clusters == 8 and len(shared[shared != 0].unique()) <= 8
    err = (shared - w).pow(2).sum() / w.pow(2).sum()
    assert err < 0.05  # 8 shared values per (row|tensor) still approximate the weights well
