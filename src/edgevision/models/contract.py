"""What a model must offer, and how edgevision uses a model that offers more.

A plain ``nn.Module`` whose ``forward(x)`` maps a batch (N, C, H, W) to the task's outputs is enough. Beyond it:

- ``forward_features(x)`` / ``forward_head(f)``, when present (edgevision's models and timm's), give the trunk's
  features (embeddings for the face gallery) and the head;
- otherwise features come from a named layer: its output, captured by a forward hook; with no name, the input of
  the last ``nn.Linear`` (the penultimate activations, the usual embedding of a classifier);
- constructor arguments ``num_classes`` and ``in_channels`` are an optional convention: edgevision passes the
  data's classes and channels when the constructor takes them, and the constructor's own names are given through
  ``model_kwargs``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError, cause_of
from .base import get_arch, set_arch
from .refs import ModelSource


def features(model: nn.Module, x: torch.Tensor, layer: str | None = None) -> torch.Tensor:
    """Features (N, ...) of ``x``: ``model.forward_features(x)`` when the model has it and no ``layer`` is named,
    else the output of submodule ``layer`` (or the input of the last ``nn.Linear``), captured during ``model(x)``.
    ``layer`` defaults to the one the architecture spec names."""
    spec = getattr(model, "_edgevision_arch", None)
    layer = layer or (spec.features if spec is not None else None)
    if layer is None and hasattr(model, "forward_features"):
        return model.forward_features(x)
    module, take_input = feature_module(model, layer)
    seen: list[torch.Tensor] = []

    def hook(_m: nn.Module, args: tuple[Any, ...], out: Any) -> None:
        seen.append(args[0] if take_input else out)

    handle = module.register_forward_hook(hook)
    try:
        model(x)
    finally:
        handle.remove()
    return seen[0]


def feature_module(model: nn.Module, layer: str | None) -> tuple[nn.Module, bool]:
    """The submodule features come from and whether its input (True) or its output is taken."""
    if layer is not None:
        names = dict(model.named_modules())
        if layer not in names:
            raise ConfigError(f"feature layer {layer!r}: the model has no such submodule; it has: "
                              f"{', '.join(n for n in names if n)[:300]}")
        return names[layer], False
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ConfigError("features: the model has no forward_features and no nn.Linear; name a feature layer")
    return linears[-1], True


def name_features(model: nn.Module, layer: str | None) -> None:
    """Record ``layer`` as the model's feature layer in its architecture spec (checked to exist)."""
    if layer:
        feature_module(model, layer)
        set_arch(model, dataclasses.replace(get_arch(model), features=layer))


def check_fits(model: nn.Module, source: ModelSource, splits: Any, task: Any = None) -> None:
    """Run a foreign model once on a zero batch of the data's shape; a failure, or a classifier whose outputs are
    not one per class, is a one-line :class:`ConfigError` that says which constructor argument to set."""
    shape = (2, splits.channels, *splits.input_size)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.zeros(shape))
    except Exception as e:
        raise ConfigError(f"model {source.label!r} does not run on the data's input {'x'.join(map(str, shape[1:]))}"
                          f" ({cause_of(e)}); if its constructor takes the input channels under another name, give "
                          f"it through model_kwargs") from None
    finally:
        model.train(was_training)
    name = getattr(task, "name", "classification")
    if name == "classification" and isinstance(out, torch.Tensor) and out.ndim == 2 \
            and out.shape[1] != splits.num_classes:
        raise ConfigError(f"model {source.label!r} gives {out.shape[1]} outputs per image but the data has "
                          f"{splits.num_classes} classes; give its number-of-classes argument through model_kwargs "
                          f"(or name it num_classes)")
