"""Channel importance criteria (the *scoring* part of structured pruning).

Every criterion returns one score per :class:`~.depgraph.Unit` of each layer group; a unit's score
aggregates every weight the channel owns across all coupled layers (its filters, BatchNorm entries, and the
input columns of the layers that read it), as Torch-Pruning's group importance does.

- ``l1``: Σ|w| over the unit's weights (Li et al. 2017, "Pruning Filters for Efficient ConvNets").
- ``l2``: (Σ w²)^½.
- ``bn_scale``: Σ|γ| of the unit's BatchNorm scales (Liu et al. 2017, "Network Slimming"); groups without a
  BatchNorm fall back to ``l1``.
- ``taylor``: first-order Taylor estimate of the loss change when the unit is removed, averaged over batches,
  I = E_batch[(Σ_{w∈unit} w·∂L/∂w)²] (Molchanov et al. 2019, "Importance Estimation for Neural Network
  Pruning"). Needs a few batches of data and the task loss.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from ...registry import Registry
from .depgraph import DependencyGraph, LayerGroup
from .layers import Layout, channel_tensors

IMPORTANCE: Registry = Registry("importance criterion", plural="importance")
Vector = Callable[[nn.Module, Layout, str], "torch.Tensor | None"]  # (layer, layout, role) -> value per channel


def per_channel(t: torch.Tensor, dim: int, span: int, fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Apply ``fn`` element-wise, sum over every dim but ``dim``, then sum each channel's ``span`` entries."""
    v = fn(t.detach()).movedim(dim, 0).reshape(t.shape[dim], -1).sum(1)
    return v.reshape(-1, span).sum(1) if span > 1 else v


def owned(fn: Callable[[torch.Tensor], torch.Tensor]) -> Vector:
    """A :data:`Vector` summing ``fn(w)`` over every entry each channel owns in a layer."""

    def vector(m: nn.Module, lay: Layout, role: str) -> torch.Tensor | None:
        parts = [per_channel(t, d, s, fn) for t, d, s in channel_tensors(m, lay, role)]
        return torch.stack(parts).sum(0) if parts else None

    return vector


def group_scores(graph: DependencyGraph, group: LayerGroup, vector: Vector) -> torch.Tensor:
    """Σ over the group's member layers of ``vector`` at each unit's indices → (n_units,) float64."""
    modules = dict(graph.model.named_modules())
    total = torch.zeros(len(group.units), dtype=torch.float64)
    for path, role in group.signature:
        vec = vector(modules[path], graph.layouts[path], role)
        if vec is not None:
            idx = torch.tensor([u.members[(path, role)] for u in group.units])  # (n_units, indices per unit)
            total += vec.double()[idx].sum(1)
    return total


@IMPORTANCE.register("l1", description="Σ|w| of each channel's weights (Li et al. 2017)")
def l1(graph: DependencyGraph, **_: Any) -> dict[str, torch.Tensor]:
    return {g.name: group_scores(graph, g, owned(torch.abs)) for g in graph.groups}


@IMPORTANCE.register("l2", description="‖w‖₂ of each channel's weights")
def l2(graph: DependencyGraph, **_: Any) -> dict[str, torch.Tensor]:
    return {g.name: group_scores(graph, g, owned(torch.square)).sqrt() for g in graph.groups}


def _bn_gamma(m: nn.Module, lay: Layout, role: str) -> torch.Tensor | None:
    if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
        return m.weight.detach().abs()
    return None


@IMPORTANCE.register("bn_scale", description="|γ| of the BatchNorm after the layer (Liu et al. 2017, network slimming)")
def bn_scale(graph: DependencyGraph, **_: Any) -> dict[str, torch.Tensor]:
    out = {}
    for g in graph.groups:
        s = group_scores(graph, g, _bn_gamma)
        out[g.name] = s if bool(s.any()) else group_scores(graph, g, owned(torch.abs))  # no BatchNorm: L1
    return out


def _grad_times_weight(m: nn.Module, lay: Layout, role: str) -> torch.Tensor | None:
    parts = [per_channel(t * t.grad, d, s, lambda x: x) for t, d, s in channel_tensors(m, lay, role)
             if t.grad is not None]
    return torch.stack(parts).sum(0) if parts else None


@IMPORTANCE.register("taylor", needs_data=True,
                     description="(Σ w·∂L/∂w)² per channel on training batches (Molchanov et al. 2019)")
def taylor(graph: DependencyGraph, batches: Iterable[Any] = (), loss_fn: Callable[[Any], torch.Tensor] | None = None,
           **_: Any) -> dict[str, torch.Tensor]:
    """Accumulate (Σ w·g)² per unit over ``batches``; ``loss_fn(batch)`` runs the model and returns the loss."""
    if loss_fn is None:
        raise ValueError("taylor importance needs batches and a loss function")
    model = graph.model
    was = model.training
    model.eval()  # BatchNorm statistics stay fixed; gradients still flow
    acc = {g.name: torch.zeros(len(g.units), dtype=torch.float64) for g in graph.groups}
    n = 0
    for batch in batches:
        model.zero_grad(set_to_none=True)
        with torch.enable_grad():
            loss_fn(batch).backward()
        for g in graph.groups:
            acc[g.name] += group_scores(graph, g, _grad_times_weight).square()
        n += 1
    model.zero_grad(set_to_none=True)
    model.train(was)
    if n == 0:
        raise ValueError("taylor importance needs at least one batch")
    return {k: v / n for k, v in acc.items()}


def score(name: str, graph: DependencyGraph, **ctx: Any) -> dict[str, torch.Tensor]:
    """Scores per group for criterion ``name`` (see :data:`IMPORTANCE`)."""
    return IMPORTANCE.get(name)(graph, **ctx)
