"""Give a model object built outside edgevision an architecture spec, so it can be saved and reloaded.

A module handed to the Python API (``edgevision.shrink(model, ...)``) carries no spec. Its class is reached by a
reference (:func:`~edgevision.models.refs.reference_of`: ``module:Class``, or the script's file for a class of
``__main__``), and its constructor arguments are ``model_kwargs`` when given, else read from same-named attributes
of the object (``self.width = width``, the usual habit). Either way the spec is checked by rebuilding the model
and comparing every tensor's name and shape, so a spec that would not reload is refused now, not in a later
process.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ..errors import ConfigError
from .base import ArchSpec, build_model, get_arch, set_arch
from .refs import accepted, reference_of, remember

_PLAIN = (bool, int, float, str, type(None))


def adopt(model: nn.Module, model_kwargs: dict[str, Any] | None = None) -> ArchSpec:
    """The spec of ``model`` (its own when edgevision built it), recorded on it; a one-line :class:`ConfigError`
    when the class has no importable reference or the constructor arguments cannot be found."""
    if getattr(model, "_edgevision_arch", None) is not None:
        return get_arch(model)
    cls = type(model)
    ref = reference_of(cls)
    if ref is None:
        raise ConfigError(f"model object of class {cls.__qualname__}: the class is defined inside a function or an "
                          f"interactive session, so a saved model could not be rebuilt; define it at module level "
                          f"in a file")
    remember(ref, cls)
    kwargs = dict(model_kwargs) if model_kwargs is not None else _attributes(model, cls)
    rebuilt = _rebuild(ref, kwargs, cls)
    _compare(model, rebuilt, ref, kwargs, given=model_kwargs is not None)
    spec = ArchSpec(ref, kwargs)
    set_arch(model, spec)
    return spec


def _attributes(model: nn.Module, cls: type) -> dict[str, Any]:
    """Constructor arguments read from same-named plain-data attributes of the object."""
    names, _ = accepted(cls)
    out = {}
    for n in names:
        value = model.__dict__.get(n)  # plain attributes live in __dict__; submodules and tensors do not
        if (isinstance(value, _PLAIN) and value is not None) or _plain_sequence(value):
            out[n] = list(value) if isinstance(value, tuple) else value
    return out


def _plain_sequence(value: Any) -> bool:
    return isinstance(value, list | tuple) and all(isinstance(v, _PLAIN) for v in value)


def _rebuild(ref: str, kwargs: dict[str, Any], cls: type) -> nn.Module:
    try:
        return build_model(ref, **kwargs)
    except ConfigError:
        raise
    except Exception as e:
        raise ConfigError(f"model object of class {cls.__qualname__}: {cls.__qualname__}({_args(kwargs)}) fails "
                          f"({type(e).__name__}: {e}); pass model_kwargs with its constructor arguments") from None


def _compare(model: nn.Module, rebuilt: nn.Module, ref: str, kwargs: dict[str, Any], given: bool) -> None:
    have = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in rebuilt.state_dict().items()}
    if have == got:
        return
    diff = sorted(set(have) ^ set(got)) or [k for k in have if have[k] != got[k]]
    first = diff[0]
    what = f"{first}: {have.get(first, 'absent')} in the object, {got.get(first, 'absent')} rebuilt"
    source = "the given model_kwargs" if given else "arguments read from its attributes"
    raise ConfigError(f"model object of class {type(model).__qualname__}: rebuilding it from {ref.rsplit('/', 1)[-1]}"
                      f"({_args(kwargs)}) with {source} gives other tensors ({len(diff)} differ; {what}); pass "
                      f"model_kwargs with the arguments it was built with")


def _args(kwargs: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
