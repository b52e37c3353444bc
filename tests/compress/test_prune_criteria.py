"""Each pruning criterion's threshold formula, solved from a target sparsity or applied with a given γ."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from edgevision.compress.unstructured import criteria
from edgevision.compress.unstructured.targets import resolve, select
from edgevision.errors import ConfigError


def _w(shape=(30, 40), seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g) * torch.linspace(0.2, 2.0, shape[0]).reshape(-1, *[1] * (len(shape) - 1))


def _pruned(mask: torch.Tensor) -> np.ndarray:
    return (~mask).numpy()


def test_naive_threshold() -> None:
    w = _w()
    masks, gammas = criteria.masks_for_sparsity("naive", {"l": w}, {"l": 0.7})
    gamma = gammas["l"]
    np.testing.assert_array_equal(_pruned(masks["l"]), np.abs(w.numpy()) <= gamma)  # |w| ≤ γ
    assert _pruned(masks["l"]).sum() == round(0.7 * w.numel())


def test_layerwise_threshold() -> None:
    w = _w()
    masks, gammas = criteria.masks_for_sparsity("layerwise", {"l": w}, {"l": 0.5})
    a = w.numpy().astype(np.float64)
    mu, sigma = a.mean(), a.std()  # μ(W), σ(W) of the signed weights (Björgvinsdóttir & Seibold 2016, eq. 2.16)
    thr = gammas["l"] * sigma + mu
    np.testing.assert_array_equal(_pruned(masks["l"]), np.abs(a) <= thr + 1e-6)
    # applying the formula with a chosen γ gives the same rule
    m2 = criteria.masks_for_gamma("layerwise", {"l": w}, 0.25)
    np.testing.assert_array_equal(_pruned(m2["l"]), np.abs(a) <= 0.25 * sigma + mu)


@pytest.mark.parametrize("shape", [(30, 40), (12, 3, 3, 3)])
def test_neuronwise_threshold_per_row_and_per_filter(shape) -> None:
    w = _w(shape)
    masks, gammas = criteria.masks_for_sparsity("neuronwise", {"l": w}, {"l": 0.6})
    a = w.numpy().reshape(shape[0], -1).astype(np.float64)
    mu, sigma = a.mean(1, keepdims=True), a.std(1, keepdims=True)  # per output neuron / filter (eqs. 2.17, 2.18)
    pruned = _pruned(masks["l"]).reshape(shape[0], -1)
    np.testing.assert_array_equal(pruned, np.abs(a) <= gammas["l"] * sigma + mu + 1e-6)
    # rows scale with their spread, so each row loses a similar share — unlike one layer-wise threshold
    per_row = pruned.mean(1)
    lw = _pruned(criteria.masks_for_sparsity("layerwise", {"l": w}, {"l": 0.6})[0]["l"]).reshape(shape[0], -1)
    assert per_row.std() < lw.mean(1).std()


def test_global_threshold_is_shared_across_layers() -> None:
    ws = {"a": _w((20, 20), 1) * 0.1, "b": _w((10, 50), 2)}
    masks, gammas = criteria.masks_for_sparsity("global", ws, 0.5)
    g = gammas["*"]
    for n, w in ws.items():
        np.testing.assert_array_equal(_pruned(masks[n]), np.abs(w.numpy()) <= g)
    total = sum(int((~m).sum()) for m in masks.values())
    assert total == round(0.5 * 900)
    assert (~masks["a"]).float().mean() > 2 * (~masks["b"]).float().mean()  # the small-magnitude layer loses more


def test_dead_weights_stay_dead_and_stats_use_alive_weights() -> None:
    w = _w()
    alive = torch.rand(w.shape, generator=torch.Generator().manual_seed(3)) > 0.3
    w = w * alive
    masks, _ = criteria.masks_for_sparsity("neuronwise", {"l": w}, {"l": 0.5}, {"l": alive})
    assert not (masks["l"] & ~alive).any()


def test_targets_by_glob_and_type() -> None:
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(4, 8), nn.Linear(8, 2))
    layers = select(model, ["*"])
    assert list(layers) == ["0", "2", "3"]
    assert resolve({"3": 0.5, "linear": 0.9, "conv": 0.3}, layers, "sparsity") == {"0": 0.3, "2": 0.9, "3": 0.5}
    assert resolve({"2": 0.9}, layers, "sparsity") == {"2": 0.9}  # unmatched layers are not pruned
    with pytest.raises(ConfigError, match="fc9"):
        resolve({"fc9": 0.5}, layers, "sparsity")
    with pytest.raises(ConfigError, match="matches no conv/linear"):
        select(model, ["head.*"])


def _lowest_by_sort(s: torch.Tensor, n: int) -> torch.Tensor:
    """The reference: a stable full sort, the n first pruned."""
    keep = torch.ones(s.numel(), dtype=torch.bool)
    keep[torch.argsort(s.reshape(-1), stable=True)[:n]] = False
    return keep.reshape(s.shape)


@pytest.mark.parametrize("seed", range(5))
def test_lowest_partial_sort_equals_a_stable_full_sort_with_ties_and_dead_weights(seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    s = torch.randint(-3, 4, (40, 25), generator=g).float()  # many ties
    s[torch.rand(s.shape, generator=g) < 0.2] = float("-inf")  # already-pruned weights
    for n in (0, 1, 7, 199, 200, 201, 500, 999, 1000, 1500):
        keep, gamma = criteria.lowest(s, n)
        assert torch.equal(keep, _lowest_by_sort(s, n)), n
        assert int((~keep).sum()) == min(n, s.numel())
        pruned = s[~keep]
        if n and pruned.max() != float("-inf"):
            assert gamma == float(pruned.max())
        elif n:
            assert gamma is None
