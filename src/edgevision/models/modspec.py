"""Declarative module descriptions, so surgery on a model can be saved as JSON and replayed.

``module_to_spec(nn.Conv2d(3, 8, 3))`` → ``{"type": "Conv2d", "args": {...}}``; ``module_from_spec`` inverts
it. Containers (``Sequential``) nest. New module kinds register a (to_spec, from_spec) pair in
:data:`MODULE_KINDS`, e.g. a low-rank or quantized layer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from ..registry import Registry

MODULE_KINDS: Registry = Registry("module kind", builtins=("edgevision.models", "edgevision.compress"),
                                  plural="module-kinds")


def _conv_args(m: nn.Conv2d | nn.ConvTranspose2d) -> dict[str, Any]:
    args = {"in_channels": m.in_channels, "out_channels": m.out_channels, "kernel_size": list(m.kernel_size),
            "stride": list(m.stride), "padding": list(m.padding) if not isinstance(m.padding, str) else m.padding,
            "dilation": list(m.dilation), "groups": m.groups, "bias": m.bias is not None}
    if isinstance(m, nn.ConvTranspose2d):
        args["output_padding"] = list(m.output_padding)
    return args


def _bn_args(m: nn.modules.batchnorm._BatchNorm) -> dict[str, Any]:
    return {"num_features": m.num_features, "eps": m.eps, "momentum": m.momentum, "affine": m.affine,
            "track_running_stats": m.track_running_stats}


_SIMPLE: dict[type, Callable[[nn.Module], dict[str, Any]]] = {
    nn.Conv2d: _conv_args,
    nn.ConvTranspose2d: _conv_args,
    nn.Linear: lambda m: {"in_features": m.in_features, "out_features": m.out_features, "bias": m.bias is not None},
    nn.BatchNorm2d: _bn_args,
    nn.BatchNorm1d: _bn_args,
    nn.PReLU: lambda m: {"num_parameters": m.num_parameters},
    nn.Identity: lambda m: {},
    nn.ReLU: lambda m: {"inplace": m.inplace},
    nn.LeakyReLU: lambda m: {"negative_slope": m.negative_slope, "inplace": m.inplace},
    nn.Dropout: lambda m: {"p": m.p},
    nn.Dropout2d: lambda m: {"p": m.p},
    nn.Flatten: lambda m: {"start_dim": m.start_dim, "end_dim": m.end_dim},
}
for _cls, _to in _SIMPLE.items():
    MODULE_KINDS.register(_cls.__name__, (_to, _cls))


def _seq_to(m: nn.Sequential) -> dict[str, Any]:
    return {"children": [module_to_spec(c) for c in m]}


def _seq_from(children: list[dict[str, Any]]) -> nn.Sequential:
    return nn.Sequential(*(module_from_spec(c) for c in children))


MODULE_KINDS.register("Sequential", (_seq_to, _seq_from))


RESIZED = "resized-channels"  # surgery on a module type edgevision cannot describe: new channel count only


def resized_spec(channels: int) -> dict[str, Any]:
    """The surgery entry of a foreign per-channel layer (a fused norm + activation) left with ``channels``."""
    return {"type": RESIZED, "args": {"channels": int(channels)}}


def resize_channels(m: nn.Module, channels: int) -> nn.Module:
    """Give every per-channel (1-D, one entry per channel) parameter and buffer of ``m`` ``channels`` entries, in
    place, and set its ``num_features``; the values are uninitialized until a state dict is loaded.

    The channel count is the length of ``running_mean`` (the layers this applies to keep running statistics).
    """
    c = m.running_mean.numel()
    for name, p in list(m.named_parameters(recurse=False)):
        if p.ndim == 1 and p.numel() == c:
            setattr(m, name, nn.Parameter(p.detach().new_empty(channels), requires_grad=p.requires_grad))
    for name, b in list(m.named_buffers(recurse=False)):
        if b.ndim == 1 and b.numel() == c:
            m.register_buffer(name, b.new_empty(channels), persistent=name not in m._non_persistent_buffers_set)
    if isinstance(getattr(m, "num_features", None), int):
        m.num_features = channels
    return m


def module_to_spec(m: nn.Module) -> dict[str, Any]:
    """Describe ``m`` as ``{"type": name, "args": {...}}``; raises for module kinds not registered."""
    kind = type(m).__name__
    if kind not in MODULE_KINDS:
        raise TypeError(f"cannot describe module of type {kind}; register it in MODULE_KINDS")
    to_spec, _ = MODULE_KINDS.get(kind)
    return {"type": kind, "args": to_spec(m)}


def module_from_spec(spec: dict[str, Any]) -> nn.Module:
    """Build the (untrained) module a spec describes."""
    _, build = MODULE_KINDS.get(spec["type"])
    args = dict(spec.get("args") or {})
    return build(**args)
