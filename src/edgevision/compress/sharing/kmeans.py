"""Exact 1-D k-means (Lloyd) for weight sharing, with Deep Compression's three initializations.

Han et al. (2016, §3.2) cluster each layer's weights into k shared values, minimizing the within-cluster sum
of squares ``Σ_j Σ_{w ∈ c_j} |w − c_j|²``, and found **linear** initialization (centroids evenly spaced
between min and max) best because it keeps the rare large weights; **density** (evenly spaced quantiles of
the weights' CDF) and **random** (Forgy: k weights drawn at random) are the alternatives.

In one dimension the nearest centroid of a sorted weight vector changes only at the midpoints between sorted
centroids, so one Lloyd iteration is a ``searchsorted`` of k−1 midpoints plus k segment means from prefix
sums: O(k log n) per iteration after one O(n log n) sort, instead of O(n·k) distance evaluations. It reaches
the same fixed point as scikit-learn's Lloyd from the same initialization (tested); empty clusters keep
their centroid and are dropped from the result.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Init = Literal["linear", "density", "random"]


def init_centroids(xs: np.ndarray, k: int, init: Init, seed: int = 0) -> np.ndarray:
    """k starting centroids for the sorted values ``xs``."""
    if init == "linear":
        return np.linspace(xs[0], xs[-1], k)
    if init == "density":
        return np.quantile(xs, (np.arange(k) + 0.5) / k)
    if init == "random":
        rng = np.random.default_rng(seed)
        return np.sort(rng.choice(xs, size=min(k, len(xs)), replace=False))
    raise ValueError(f"unknown k-means init {init!r}: expected linear, density or random")


def lloyd_sorted(xs: np.ndarray, centroids: np.ndarray, max_iter: int = 300) -> np.ndarray:
    """Lloyd iterations on sorted float64 ``xs`` until the centroids stop moving; returns sorted centroids."""
    prefix = np.concatenate([[0.0], np.cumsum(xs)])
    c = np.sort(centroids.astype(np.float64))
    for _ in range(max_iter):
        cuts = np.searchsorted(xs, (c[1:] + c[:-1]) / 2, side="right")  # ties go to the lower centroid
        starts = np.concatenate([[0], cuts])
        ends = np.concatenate([cuts, [len(xs)]])
        count = ends - starts
        new = np.where(count > 0, (prefix[ends] - prefix[starts]) / np.maximum(count, 1), c)
        if np.array_equal(new, c):
            break
        c = np.sort(new)
    return c


def assign(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the nearest (sorted) centroid for each value; ties go to the lower one."""
    return np.searchsorted((centroids[1:] + centroids[:-1]) / 2, x, side="left")


def kmeans_1d(x: np.ndarray, k: int, init: Init = "linear", seed: int = 0,
              max_iter: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """Cluster values ``x`` into at most ``k`` shared values.

    Returns:
        centroids (k',) sorted float64, k' ≤ k (empty clusters dropped; all distinct values if there are ≤ k).
        labels (n,) int64: the centroid index of each value.
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    if x.size == 0:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    uniq = np.unique(x)
    if len(uniq) <= k:  # nothing to share: every distinct value is its own centroid
        return uniq, np.searchsorted(uniq, x)
    xs = np.sort(x)
    c = lloyd_sorted(xs, init_centroids(xs, k, init, seed), max_iter)
    labels = assign(x, c)
    used = np.bincount(labels, minlength=len(c)) > 0
    remap = np.cumsum(used) - 1
    return c[used], remap[labels]
