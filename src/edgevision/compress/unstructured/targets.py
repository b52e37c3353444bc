"""Which layers compression touches, and per-layer values given as one number or as a dict of patterns.

A *compressible layer* is any module owning a ``weight`` parameter with two or more dimensions: convolutions
(including depthwise and transposed), linear layers, and the custom layers other stages insert. Its rows are
``weight.shape[0]`` (output neurons / filters). Targets such as ``{"fc1": 0.97, "conv*": 0.8, "*": 0.9}``
map layer-name globs to values — the first matching key wins, and the keys ``conv`` and ``linear`` match by
module type (``bits: {conv: 8, linear: 5}`` is Deep Compression's setting).
"""

from __future__ import annotations

import fnmatch
from typing import TypeVar

import torch
from torch import nn

from ...errors import ConfigError

T = TypeVar("T")
TYPE_KEYS = {"conv": nn.modules.conv._ConvNd, "linear": nn.Linear}


def compressible(model: nn.Module) -> dict[str, nn.Module]:
    """``{module name: module}`` for every module with a ≥2-D ``weight`` parameter, in model order."""
    out = {}
    for name, m in model.named_modules():
        w = m._parameters.get("weight") if hasattr(m, "_parameters") else None
        if isinstance(w, nn.Parameter) and w.ndim >= 2:
            out[name] = m
    return out


def _matches(key: str, name: str, module: nn.Module) -> bool:
    if key in TYPE_KEYS and isinstance(module, TYPE_KEYS[key]):
        return True
    return fnmatch.fnmatchcase(name, key.removesuffix(".weight"))


def select(model: nn.Module, patterns: list[str], what: str = "layers") -> dict[str, nn.Module]:
    """The compressible layers matching any of ``patterns``; a pattern that matches nothing is a ConfigError."""
    layers = compressible(model)
    if not layers:
        raise ConfigError("the model has no layer with a ≥2-D weight (conv or linear) to compress")
    for pat in patterns:
        if not any(_matches(pat, n, m) for n, m in layers.items()):
            raise ConfigError(f"{what}: pattern {pat!r} matches no conv/linear layer; layer names look like: "
                              f"{', '.join(list(layers)[:8])}")
    return {n: m for n, m in layers.items() if any(_matches(p, n, m) for p in patterns)}


def resolve(value: T | dict[str, T], layers: dict[str, nn.Module], what: str) -> dict[str, T]:
    """Per-layer values from one value (every layer) or a dict of patterns (first match; unmatched layers skip)."""
    if not isinstance(value, dict):
        return {n: value for n in layers}
    for key in value:
        if not any(_matches(key, n, m) for n, m in layers.items()):
            raise ConfigError(f"{what}: key {key!r} matches no selected layer; layer names look like: "
                              f"{', '.join(list(layers)[:8])}")
    out = {}
    for name, m in layers.items():
        for key, v in value.items():
            if _matches(key, name, m):
                out[name] = v
                break
    return out


def weight(module: nn.Module) -> nn.Parameter:
    return module._parameters["weight"]


def rows_view(w: torch.Tensor) -> torch.Tensor:
    """(rows, fan-in) view: one row per output neuron or filter."""
    return w.reshape(w.shape[0], -1)


def zero_fraction(model: nn.Module, layers: dict[str, nn.Module] | None = None) -> dict[str, float | dict[str, float]]:
    """Fraction of exact zeros per layer weight and overall (over those weights, and over all parameters)."""
    layers = compressible(model) if layers is None else layers
    per = {n: float((weight(m) == 0).float().mean()) for n, m in layers.items()}
    n_w = sum(weight(m).numel() for m in layers.values())
    zeros_w = sum(int((weight(m) == 0).sum()) for m in layers.values())
    n_all = sum(p.numel() for p in model.parameters())
    zeros_all = sum(int((p == 0).sum()) for p in model.parameters())
    return {"weights": zeros_w / max(n_w, 1), "params": zeros_all / max(n_all, 1), "layers": per}
