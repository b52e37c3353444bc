"""Unstructured pruning criteria (Björgvinsdóttir & Seibold 2016, eqs. 2.15–2.18; Han et al. 2015).

Each criterion prunes the weights at or under a threshold parameterized by γ:

- ``naive``:      |W_ij| ≤ γ
- ``layerwise``:  |W_ij| ≤ γ·σ(W) + μ(W)          (μ, σ: mean and standard deviation of the layer's weights)
- ``neuronwise``: |W_ij| ≤ γ·σ(W_i) + μ(W_i)      (per output row i; per filter for a convolution)
- ``global``:     |W_ij| ≤ γ with one γ shared by every selected layer (global magnitude pruning)

Equivalently, each weight gets a *score* s_ij — |W_ij|, or (|W_ij| − μ)/σ — and is pruned iff s_ij ≤ γ. So
γ for a target sparsity s is the ⌈s·n⌉-th smallest score: the sweep never searches. Statistics are taken over
the weights still alive (all of them for a dense layer), and already-pruned weights score −∞ so they never
come back. With per-layer targets ``naive`` and ``layerwise`` choose the same weights (both rank by |W|
within the layer) and differ only in γ; ``neuronwise`` keeps more weights in rows with a wider spread.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ...registry import Registry
from .targets import rows_view

CRITERIA: Registry = Registry("pruning criterion", plural="criteria")
NEG_INF = float("-inf")


def _stats(w: torch.Tensor, alive: torch.Tensor, dim: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and (population) standard deviation of the alive weights, over everything or per row."""
    a = alive.to(w.dtype)
    if dim is None:
        n = a.sum().clamp(min=1)
        mu = (w * a).sum() / n
        var = (((w - mu) * a) ** 2).sum() / n
    else:
        n = a.sum(dim, keepdim=True).clamp(min=1)
        mu = (w * a).sum(dim, keepdim=True) / n
        var = (((w - mu) * a) ** 2).sum(dim, keepdim=True) / n
    return mu, var.sqrt().clamp(min=1e-12)


def naive_score(w: torch.Tensor, alive: torch.Tensor) -> torch.Tensor:
    return w.abs()


def layerwise_score(w: torch.Tensor, alive: torch.Tensor) -> torch.Tensor:
    mu, sd = _stats(w, alive, None)
    return (w.abs() - mu) / sd


def neuronwise_score(w: torch.Tensor, alive: torch.Tensor) -> torch.Tensor:
    wr, ar = rows_view(w), rows_view(alive)
    mu, sd = _stats(wr, ar, 1)
    return ((wr.abs() - mu) / sd).reshape(w.shape)


CRITERIA.register("naive", naive_score, formula="|w| ≤ γ", shared=False)
CRITERIA.register("layerwise", layerwise_score, formula="|w| ≤ γ·σ(W) + μ(W)", shared=False)
CRITERIA.register("neuronwise", neuronwise_score, formula="|w| ≤ γ·σ(W_i) + μ(W_i)", shared=False)
CRITERIA.register("global", naive_score, formula="|w| ≤ γ, one γ for all layers", shared=True)


def scores(criterion: str, w: torch.Tensor, alive: torch.Tensor | None = None) -> torch.Tensor:
    """The criterion's score per weight (pruned iff score ≤ γ); dead weights score −∞."""
    w = w.detach().float()
    alive = torch.ones_like(w, dtype=torch.bool) if alive is None else alive
    fn: Callable = CRITERIA.get(criterion)
    return fn(w, alive).masked_fill(~alive, NEG_INF)


def lowest(s: torch.Tensor, n_prune: int) -> tuple[torch.Tensor, float | None]:
    """Keep-mask pruning exactly the ``n_prune`` lowest scores, and γ: the highest score pruned now (None when
    only already-dead weights are pruned).

    A partial sort: γ is the k-th smallest score (introselect, ``numpy.partition``: linear time, one float copy;
    ``torch.kthvalue`` also keeps int64 indices, 3× the memory), every score below γ is pruned, and of the scores
    equal to γ the first ones by position fill the remaining count, so the mask is the one a stable full sort
    would give, without ``argsort``'s n log n time and its int64 index per weight.
    """
    flat = s.reshape(-1)
    n_prune = max(0, min(int(n_prune), flat.numel()))
    if n_prune == 0:
        return torch.ones(s.shape, dtype=torch.bool), None
    gamma = float(np.partition(flat.detach().cpu().float().numpy(), n_prune - 1)[n_prune - 1])
    below = flat < gamma
    ties = (flat == gamma).nonzero().squeeze(1)[: n_prune - int(below.sum())]
    below[ties] = True
    return (~below).reshape(s.shape), gamma if gamma != NEG_INF else None


def masks_for_sparsity(criterion: str, weights: dict[str, torch.Tensor], targets: dict[str, float] | float,
                       alive: dict[str, torch.Tensor] | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """Keep-masks reaching the target sparsity: per layer (dict) or one shared γ (``global``, float target).

    Returns (masks, γ per layer — or ``{"*": γ}`` when shared).
    """
    alive = alive or {}
    s = {n: scores(criterion, w, alive.get(n)) for n, w in weights.items()}
    if CRITERIA.entry(criterion).meta["shared"]:
        if isinstance(targets, dict):
            raise ValueError("the global criterion takes one overall sparsity, not per-layer targets")
        names = list(s)
        flat = torch.cat([s[n].reshape(-1) for n in names])
        keep, gamma = lowest(flat, round(targets * flat.numel()))
        parts = torch.split(keep, [s[n].numel() for n in names])
        return {n: p.reshape(s[n].shape) for n, p in zip(names, parts)}, {"*": gamma}
    per = targets if isinstance(targets, dict) else dict.fromkeys(s, targets)
    masks, gammas = {}, {}
    for n, sc in s.items():
        masks[n], gammas[n] = lowest(sc, round(per[n] * sc.numel()))
    return masks, gammas


def masks_for_gamma(criterion: str, weights: dict[str, torch.Tensor], gamma: dict[str, float] | float,
                    alive: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """Keep-masks of the criterion's formula applied with a given γ (per layer or shared)."""
    alive = alive or {}
    out = {}
    for n, w in weights.items():
        g = gamma[n] if isinstance(gamma, dict) else gamma
        out[n] = scores(criterion, w, alive.get(n)) > g
    return out
