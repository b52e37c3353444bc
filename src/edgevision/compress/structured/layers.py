"""What structured pruning knows about each layer type: which parameter dims carry which channels.

A :class:`Layout` says how a module maps channels (dim 1 of its input) to channels of its output:

- ``dense`` (conv with ``groups=1``, linear): inputs and outputs are separate channel spaces, roles
  ``"in"`` and ``"out"``;
- ``channelwise`` (BatchNorm, PReLU, depthwise conv): output channel ``i·mult + j`` comes from input channel
  ``i``, role ``"ch"``.

Each role lists the :class:`Slice` s (state-dict entry, dim, span) that one channel owns, so the same table
drives importance scoring (which weights belong to a channel) and surgery (which rows to keep).
Register more layer types in :data:`PRUNABLE`. A layer of another type that behaves as a normalization layer
(running statistics, per-channel over dim 1: timm's fused ``BatchNormAct2d``, frozen BatchNorms) is recognised by
:func:`norm_channels` and sliced like BatchNorm; anything else is treated as opaque and the channels it touches are
never pruned (never wrong, at worst less pruning).
"""

from __future__ import annotations

import copy
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ...models.modspec import module_from_spec, module_to_spec, resize_channels, resized_spec
from ...registry import Registry


@dataclass(frozen=True)
class Slice:
    """Channel ``c`` owns entries ``[c·span, (c+1)·span)`` along ``dim`` of state-dict entry ``name``."""

    name: str
    dim: int
    span: int = 1


@dataclass(frozen=True)
class Layout:
    kind: str  # "dense" or "channelwise"
    n_in: int
    n_out: int
    roles: dict[str, tuple[Slice, ...]] = field(default_factory=dict)
    mult: int = 1  # channelwise: output channels per input channel
    last_dim: bool = False  # features on the last dim (Linear): only a (B, F) input puts them on dim 1


@dataclass(frozen=True)
class LayerKind:
    """``layout(module) -> Layout | None`` (None: not prunable in this configuration) and ``resize(args, kept)``
    which updates the module's spec args for the kept channel counts per role."""

    layout: Callable[[nn.Module], Layout | None]
    resize: Callable[[dict[str, Any], Layout, dict[str, int]], dict[str, Any]]


PRUNABLE: Registry = Registry("prunable layer", plural="prunable-layers")


def _conv_layout(m: nn.Conv2d) -> Layout | None:
    ci, co, g = m.in_channels, m.out_channels, m.groups
    if g == 1:
        return Layout("dense", ci, co, {"out": (Slice("weight", 0), Slice("bias", 0)), "in": (Slice("weight", 1),)})
    if g == ci and co % ci == 0:  # depthwise, with channel multiplier co / ci
        k = co // ci
        return Layout("channelwise", ci, co, {"ch": (Slice("weight", 0, k), Slice("bias", 0, k))}, mult=k)
    return None  # general grouped conv: channels are coupled group-wise; left alone


def _convt_layout(m: nn.ConvTranspose2d) -> Layout | None:
    ci, co, g = m.in_channels, m.out_channels, m.groups
    if g == 1:  # weight is (in, out, k...)
        return Layout("dense", ci, co, {"out": (Slice("weight", 1), Slice("bias", 0)), "in": (Slice("weight", 0),)})
    if g == ci and co % ci == 0:  # weight is (in, out/groups, k...)
        k = co // ci
        return Layout("channelwise", ci, co, {"ch": (Slice("weight", 0), Slice("bias", 0, k))}, mult=k)
    return None


def _conv_resize(args: dict[str, Any], lay: Layout, kept: dict[str, int]) -> dict[str, Any]:
    if lay.kind == "dense":
        return {**args, "in_channels": kept["in"], "out_channels": kept["out"]}
    c = kept["ch"]
    return {**args, "in_channels": c, "out_channels": c * lay.mult, "groups": c}


def _linear_layout(m: nn.Linear) -> Layout:
    roles = {"out": (Slice("weight", 0), Slice("bias", 0)), "in": (Slice("weight", 1),)}
    return Layout("dense", m.in_features, m.out_features, roles, last_dim=True)


def _norm_layout(m: nn.modules.batchnorm._NormBase) -> Layout:
    names = ("weight", "bias", "running_mean", "running_var")
    return Layout("channelwise", m.num_features, m.num_features, {"ch": tuple(Slice(n, 0) for n in names)})


def _prelu_layout(m: nn.PReLU) -> Layout | None:
    if m.num_parameters == 1:
        return Layout("channelwise", 0, 0)  # one shared slope: channel-preserving, nothing to slice
    return Layout("channelwise", m.num_parameters, m.num_parameters, {"ch": (Slice("weight", 0),)})


for _cls in (nn.Conv1d, nn.Conv2d, nn.Conv3d):
    PRUNABLE.register(_cls.__name__, LayerKind(_conv_layout, _conv_resize))
for _cls in (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d):
    PRUNABLE.register(_cls.__name__, LayerKind(_convt_layout, _conv_resize))
PRUNABLE.register("Linear", LayerKind(_linear_layout, lambda a, lay, k: {**a, "in_features": k["in"],
                                                                          "out_features": k["out"]}))
for _cls in (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d):
    PRUNABLE.register(_cls.__name__, LayerKind(_norm_layout, lambda a, lay, k: {**a, "num_features": k["ch"]}))
PRUNABLE.register("PReLU", LayerKind(_prelu_layout, lambda a, lay, k: {**a, "num_parameters": k["ch"]}))


def layout_of(m: nn.Module) -> Layout | None:
    """The layout of a registered layer type or of a layer that behaves as a norm (:func:`norm_channels`), or
    None for opaque modules."""
    name = type(m).__name__
    if name in PRUNABLE:
        return PRUNABLE.get(name).layout(m)
    c = norm_channels(m)
    return None if c is None else Layout("channelwise", c, c, {"ch": tuple(Slice(n, 0) for n in _per_channel(m, c))})


def is_leaf(m: nn.Module) -> bool:
    return type(m).__name__ in PRUNABLE or norm_channels(m) is not None


_NORMS: weakref.WeakKeyDictionary[nn.Module, int | None] = weakref.WeakKeyDictionary()


def norm_channels(m: nn.Module) -> int | None:
    """C when ``m`` is a normalization layer of a type not registered — timm's ``BatchNormAct2d`` (a BatchNorm fused
    with its activation), a frozen BatchNorm — recognised by what it does, else None.

    It must hold running statistics (1-D ``running_mean`` / ``running_var`` of length C), have only parameter-free
    children (the fused activation, dropout), and act per channel over dim 1: changing input channel c changes
    output channel c and no other (checked on a random batch in eval mode, which leaves the statistics alone).
    """
    if m not in _NORMS:
        _NORMS[m] = _norm_channels(m)
    return _NORMS[m]


def _norm_channels(m: nn.Module) -> int | None:
    rm, rv = getattr(m, "running_mean", None), getattr(m, "running_var", None)
    if not (isinstance(rm, torch.Tensor) and isinstance(rv, torch.Tensor) and rm.ndim == 1 and rm.shape == rv.shape):
        return None
    if any(True for c in m.children() for _ in c.parameters()):
        return None
    c = rm.numel()
    return c if c > 1 and _acts_per_channel(m, c) else None


def _acts_per_channel(m: nn.Module, c: int) -> bool:
    gen = torch.Generator().manual_seed(0)
    was = m.training
    m.eval()
    try:
        with torch.no_grad():
            for shape in ((2, c, 5, 5), (2, c, 7)):
                x = torch.randn(shape, generator=gen)
                try:
                    y = m(x)
                except Exception:  # e.g. a 2-d-only layer fed 1-d data: try the next shape
                    continue
                return isinstance(y, torch.Tensor) and y.shape == x.shape and _only_own_channel(m, x, y, gen)
            return False
    finally:
        m.train(was)


def _only_own_channel(m: nn.Module, x: torch.Tensor, y: torch.Tensor, gen: torch.Generator) -> bool:
    moved = False
    for ch in sorted({0, x.shape[1] // 2, x.shape[1] - 1}):
        x2 = x.clone()
        x2[:, ch] += 3 * torch.randn(x2[:, ch].shape, generator=gen)
        d = (m(x2) - y).abs().flatten(2).amax(dim=(0, 2))  # (C,): how much each output channel moved
        if torch.cat([d[:ch], d[ch + 1:]]).max() > 0:
            return False
        moved = moved or bool(d[ch] > 0)
    return moved


def _per_channel(m: nn.Module, c: int) -> list[str]:
    """Names of ``m``'s own 1-D parameters and buffers with one entry per channel."""
    own = [*m.named_parameters(recurse=False), *m.named_buffers(recurse=False)]
    return [n for n, t in own if t is not None and t.ndim == 1 and t.numel() == c]


def spec_after_resize(m: nn.Module) -> dict[str, Any]:
    """The surgery entry of a resized module: its full spec, or for a foreign per-channel layer its channel count."""
    return module_to_spec(m) if type(m).__name__ in PRUNABLE else resized_spec(int(m.running_mean.numel()))


def expand(keep: torch.Tensor, span: int) -> torch.Tensor:
    """Channel indices → entry indices: ``[c·span + j for c in keep for j in range(span)]``."""
    return (keep[:, None] * span + torch.arange(span)).reshape(-1) if span > 1 else keep


def channel_tensors(m: nn.Module, lay: Layout, role: str) -> list[tuple[torch.Tensor, int, int]]:
    """(tensor, dim, span) of every state entry a channel of ``role`` owns (missing bias etc. skipped)."""
    state = dict(m.named_parameters(recurse=False)) | dict(m.named_buffers(recurse=False))
    return [(state[s.name], s.dim, s.span) for s in lay.roles.get(role, ()) if state.get(s.name) is not None]


def resized(m: nn.Module, lay: Layout, keep: dict[str, torch.Tensor]) -> nn.Module:
    """A new module of the same kind keeping channels ``keep[role]`` (sorted indices), weights copied.

    Built from the module's spec with updated sizes, so ``module_from_spec(module_to_spec(new))`` rebuilds
    exactly this structure.
    """
    if type(m).__name__ in PRUNABLE:
        spec = module_to_spec(m)
        kind = PRUNABLE.get(type(m).__name__)
        spec["args"] = kind.resize(spec["args"], lay, {r: len(k) for r, k in keep.items()})
        new = module_from_spec(spec)
    else:  # a norm recognised by behaviour: the same module with fewer channels
        new = resize_channels(copy.deepcopy(m), len(keep["ch"]))
    state = {k: v.clone() for k, v in m.state_dict().items()}
    for role, idx in keep.items():
        for s in lay.roles.get(role, ()):
            if state.get(s.name) is not None and state[s.name].ndim > s.dim:
                state[s.name] = state[s.name].index_select(s.dim, expand(idx, s.span)).contiguous()
    new.load_state_dict(state)
    new.train(m.training)
    for (_, p_new), (_, p_old) in zip(new.named_parameters(), m.named_parameters()):
        p_new.requires_grad_(p_old.requires_grad)
    return new.to(next(m.parameters()).device) if any(True for _ in m.parameters()) else new
