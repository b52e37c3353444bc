"""The model contract and the architecture spec.

Every registered model subclasses :class:`EdgeModel` and implements ``forward_features`` (the trunk,
returning a feature map or vector) and ``forward_head`` (features → task outputs); ``forward`` is their
composition. This single contract lets distillation, pruning, export and the tests treat any model the
same way (as timm does).

A model is saved as an :class:`ArchSpec` plus a ``state_dict`` — never as a pickled module. The spec is
``name`` + ``kwargs`` for the registry, plus ``surgery``: an ordered map from a submodule path to a
declarative description of the module that replaced it (see :mod:`edgevision.models.modspec`).
Structured pruning and low-rank factorization record their new widths there, so a compressed model
rebuilds from the spec alone.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from pydantic import TypeAdapter, ValidationError
from torch import nn

from ..errors import ConfigError, EdgevisionError, cause_of, suggest
from ..registry import Registry
from .modspec import RESIZED, module_from_spec, resize_channels
from .refs import REFERENCE_FORMS, ZOO, ModelSource, check_names, is_reference, resolve_foreign

MODELS: Registry = Registry("model", builtins=("edgevision.models",), plural="models")


class EdgeModel(nn.Module):
    """Base class: ``forward(x) = forward_head(forward_features(x))``."""

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


@dataclass(frozen=True)
class ArchSpec:
    """Everything needed to rebuild a model's structure: its reference, kwargs, module surgery, and (for a model
    without ``forward_features``) the submodule whose output is its features (:mod:`edgevision.models.contract`)."""

    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    surgery: dict[str, dict[str, Any]] = field(default_factory=dict)
    features: str | None = None

    @property
    def label(self) -> str:
        """The reference for messages: a file reference by its file's name (``my_net.py:Net``)."""
        head, sep, attr = self.name.rpartition(":")
        return f"{head.rsplit('/', 1)[-1]}{sep}{attr}" if head.endswith(".py") else self.name

    def to_dict(self) -> dict[str, Any]:
        d = {"name": self.name, "kwargs": dict(self.kwargs), "surgery": dict(self.surgery)}
        return {**d, "features": self.features} if self.features else d  # absent when unset: old files unchanged

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ArchSpec:
        return cls(d["name"], dict(d.get("kwargs") or {}), dict(d.get("surgery") or {}), d.get("features"))

    def with_surgery(self, path: str, module_spec: dict[str, Any]) -> ArchSpec:
        """Return a copy recording that the submodule at ``path`` is now ``module_spec``.

        Earlier entries at ``path`` or below it are dropped (the new spec describes that whole subtree) and
        the new entry goes last, so replaying the surgery in order never resurrects a stale submodule.
        """
        kept = {p: s for p, s in self.surgery.items() if p != path and not p.startswith(path + ".")}
        return ArchSpec(self.name, self.kwargs, {**kept, path: module_spec}, self.features)


def resolve(ref: str) -> ModelSource:
    """Resolve a model reference: a registry name, or a foreign one (:mod:`edgevision.models.refs`)."""
    if is_reference(ref):
        return resolve_foreign(ref)
    if ref not in MODELS:
        dotted = f" (a module's callable is written {ref.rpartition('.')[0]}:{ref.rpartition('.')[2]})" \
            if "." in ref.strip(".") else ""
        raise ConfigError(f"unknown model {ref!r}{dotted or suggest(ref, MODELS.names())}; expected {REFERENCE_FORMS}")
    entry = MODELS.entry(ref)
    return ModelSource(ref, entry.obj, dict(entry.meta), registered=True)


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Build the model a reference names; unset (None) kwargs are dropped so the model's defaults stand.

    Each kwarg is checked against its constructor's type annotation first, so ``bn=maybe`` is a ``TypeError``
    naming the key and the expected type, not a truthy string; a foreign constructor's unknown names and a result
    that is not an ``nn.Module`` are :class:`ConfigError` lines. The spec records the canonical reference.
    """
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    source = resolve(name)
    if not source.registered:
        check_names(source, kwargs)
    check_kwargs(source.factory, kwargs)
    model = source.factory(**kwargs) if source.registered else _call_foreign(source, kwargs)
    # a foreign model may name the kwargs that rebuild it without its source file (a YOLO checkpoint's architecture)
    set_arch(model, ArchSpec(source.ref, {**kwargs, **getattr(model, "rebuild_kwargs", {})}))
    return model


def _call_foreign(source: ModelSource, kwargs: dict[str, Any]) -> nn.Module:
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    try:
        model = source.factory(**kwargs)
    except EdgevisionError:
        raise  # already one line (a zoo reference's missing cached weights)
    except Exception as e:
        raise ConfigError(f"model {source.label!r}: calling it with ({args}) failed: {type(e).__name__}: "
                          f"{cause_of(e)}") from None
    if not isinstance(model, nn.Module):
        raise ConfigError(f"model {source.label!r}: calling it returned a {type(model).__name__}, expected a "
                          f"torch.nn.Module")
    return model


def build_from_spec(spec: ArchSpec | dict[str, Any]) -> nn.Module:
    """Rebuild a model from its spec, including recorded surgery (weights are not loaded)."""
    spec = spec if isinstance(spec, ArchSpec) else ArchSpec.from_dict(spec)
    kwargs = dict(spec.kwargs)
    if spec.name.partition(":")[0] in ZOO:  # the weights come from the file: no cache is needed to rebuild
        kwargs.pop("pretrained", None)
    model = build_model(spec.name, **kwargs)
    for path, mspec in spec.surgery.items():
        if mspec.get("type") == RESIZED:  # a foreign per-channel layer keeps its type with fewer channels
            resize_channels(model.get_submodule(path), mspec["args"]["channels"])
        else:
            model.set_submodule(path, module_from_spec(mspec))
    set_arch(model, spec)
    return model


def get_arch(model: nn.Module) -> ArchSpec:
    arch = getattr(model, "_edgevision_arch", None)
    if arch is None:
        raise ValueError("model was not built by edgevision.build_model, so it has no architecture spec")
    return arch


def set_arch(model: nn.Module, arch: ArchSpec) -> None:
    object.__setattr__(model, "_edgevision_arch", arch)


def default_input(name: str) -> tuple[int, ...]:
    """The registered default input shape (C, H, W) of a model family; (3, 224, 224) for a foreign reference."""
    return tuple(resolve(name).meta.get("default_input", (3, 224, 224)))


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def check_kwargs(factory: Callable[..., Any], kwargs: dict[str, Any]) -> None:
    """Validate ``kwargs`` (values are passed on unchanged) against the annotations of ``factory`` and, when it
    forwards ``**kwargs``, of the ``__init__`` of the class it returns. Unannotated or unknown names are left to
    the constructor (which raises its own ``TypeError`` for unknown ones)."""
    hints = _annotations(factory)
    for key, value in kwargs.items():
        adapter = _adapter(hints[key]) if key in hints else None
        if adapter is None:
            continue
        try:
            adapter.validate_python(value)
        except ValidationError:
            raise TypeError(f"{key}={value!r}: expected {_type_name(hints[key])}") from None


@functools.cache
def _annotations(factory: Callable[..., Any]) -> dict[str, Any]:
    hints = _param_hints(factory)
    sig = inspect.signature(factory.__init__ if inspect.isclass(factory) else factory)
    if not inspect.isclass(factory) and any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        ret = typing.get_type_hints(factory).get("return")
        if inspect.isclass(ret):
            hints = {**_param_hints(ret.__init__), **hints}
    return hints


def _param_hints(fn: Callable[..., Any]) -> dict[str, Any]:
    fn = fn.__init__ if inspect.isclass(fn) else fn  # a class registered directly: its constructor's hints
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # an annotation that does not resolve: leave that constructor unchecked
        return {}
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    names = {n for n, p in inspect.signature(fn).parameters.items() if p.kind in kinds}
    return {k: v for k, v in hints.items() if k in names}


@functools.cache
def _adapter(annotation: Any) -> TypeAdapter | None:
    try:
        return TypeAdapter(annotation)
    except Exception:  # not a data type pydantic knows (a module, a callable): unchecked
        return None


def _type_name(annotation: Any) -> str:
    text = annotation.__name__ if isinstance(annotation, type) else str(annotation)
    return text.replace("typing.", "").replace("collections.abc.", "")
