"""Model references: where a model's constructor comes from.

A reference is accepted wherever a model name goes (``--model``, ``--student``, recipes, the Python API):

- ``lenet5``: a name in :data:`~edgevision.models.base.MODELS`;
- ``package.module:callable``: a class or factory importable by module name (``Outer.inner`` reaches nested names);
- ``path/to/file.py:callable``: a class or factory in a Python file (recorded with the file's absolute path, so
  the artifact reloads from any working directory);
- ``timm:<name>`` and ``torchvision:<name>``: architectures of those libraries, imported only when used, built
  without pretrained weights unless ``pretrained=true`` is given and the library's cache holds them
  (:mod:`edgevision.models.pretrained`; nothing is downloaded);
- ``ultralytics:<name>.yaml`` and ``ultralytics:<path>.pt``: YOLO detectors (:mod:`edgevision.models.yolo`).

:func:`edgevision.models.base.resolve` turns a reference into a :class:`ModelSource` (the callable, its canonical
reference and the registry metadata, empty for foreign callables). The architecture spec records the canonical
reference, so :func:`~edgevision.models.base.build_from_spec` rebuilds the model in a new process.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, suggest
from . import yolo
from .pretrained import timm_pretrained, torchvision_pretrained

ZOO = ("timm", "torchvision")
ZOO_EXTRA = "pip install -e '.[zoo]' (or make install-zoo)"
REFERENCE_FORMS = "a registered name (edgevision models), package.module:callable, path/file.py:callable, " \
                  "timm:<name>, torchvision:<name> or ultralytics:<yaml or .pt>"
_LIVE: dict[str, Callable[..., Any]] = {}  # canonical reference → callable already in this process


@dataclass(frozen=True)
class ModelSource:
    """A resolved reference: the callable that builds the model and what is known about it."""

    ref: str  # canonical: a registry name, ``module:attr``, ``/abs/file.py:attr``, ``timm:name``
    factory: Callable[..., Any]
    meta: dict[str, Any] = field(default_factory=dict)  # registry metadata (default_input, task, family)
    registered: bool = False

    @property
    def label(self) -> str:
        """A short name for messages and run-folder names (``my_net.py:Net`` for a file reference)."""
        head, sep, attr = self.ref.rpartition(":")
        return f"{Path(head).name}{sep}{attr}" if head.endswith(".py") else self.ref


def is_reference(text: str) -> bool:
    """Whether ``text`` is a foreign reference (it has a ``:``) rather than a registry name."""
    return ":" in text


def resolve_foreign(ref: str) -> ModelSource:
    """Resolve a reference with a ``:`` (the forms in the module docstring) or raise a one-line
    :class:`ConfigError`; registry names are resolved by :func:`edgevision.models.base.resolve`."""
    ref = ref.strip()
    head, _, attr = ref.rpartition(":")
    if not head or not attr:
        raise ConfigError(f"model reference {ref!r}: expected {REFERENCE_FORMS}")
    if head in ZOO:
        return ModelSource(ref, _zoo_factory(head, attr, ref))
    if head == yolo.PREFIX:
        canonical = yolo.canonical(attr)
        spec = canonical.partition(":")[2]
        return ModelSource(canonical, yolo.factory(spec, ref), dict(yolo.META))
    canonical = _canonical(head, attr)
    if canonical in _LIVE:
        return ModelSource(canonical, _LIVE[canonical])
    is_file = head.endswith(".py") or "/" in head
    module = _load_file(Path(head).expanduser().resolve(), ref) if is_file else _import(head, ref)
    return ModelSource(canonical, _attribute(module, attr, ref))


def remember(ref: str, factory: Callable[..., Any]) -> None:
    """Make ``ref`` resolve to ``factory`` in this process without importing again (a class the user already has:
    a script run as ``__main__`` is not imported a second time)."""
    _LIVE[ref] = factory


def reference_of(cls: type) -> str | None:
    """The reference that reaches class ``cls``: ``module:Qual.name``, or ``/abs/file.py:Name`` for a class of a
    script run as ``__main__`` or of a file loaded by reference; None when no file or module holds it (a class
    defined inside a function, in a notebook or in ``exec``'d code)."""
    qual = cls.__qualname__
    mod = sys.modules.get(cls.__module__)
    if "<locals>" in qual or mod is None:  # inside a function, or code run without a module (exec)
        return None
    path = getattr(mod, "__file__", None)
    if cls.__module__ == "__main__" or cls.__module__.startswith(_FILE_PREFIX):
        return f"{Path(path).resolve()}:{qual}" if path else None  # a notebook's __main__ has no file
    return f"{cls.__module__}:{qual}"


def _canonical(head: str, attr: str) -> str:
    if head.endswith(".py") or "/" in head:
        return f"{Path(head).expanduser().resolve()}:{attr}"
    return f"{head}:{attr}"


_FILE_PREFIX = "edgevision_user_"


@functools.cache
def _load_file(path: Path, ref: str) -> Any:
    """Import the Python file at ``path`` under a private module name (its ``if __name__ == "__main__"`` block does
    not run); the same file is imported once per process."""
    if not path.is_file():
        raise ConfigError(f"model reference {ref!r}: no such file {path}")
    name = _FILE_PREFIX + path.stem.replace("-", "_") + "_" + hashlib.sha1(str(path).encode()).hexdigest()[:8]
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[name] = module  # before exec: dataclasses and pickling look the module up by name
    try:
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    except Exception as e:
        del sys.modules[name]
        raise ConfigError(f"model reference {ref!r}: importing {path} failed: {type(e).__name__}: {e}") from None
    return module


def _import(head: str, ref: str) -> Any:
    try:
        return importlib.import_module(head)
    except ModuleNotFoundError as e:
        missing = e.name or head
        what = f"no module named {head!r}" if head == missing or head.startswith(missing + ".") else \
            f"importing {head!r} needs module {missing!r}, which is not installed"
        raise ConfigError(f"model reference {ref!r}: {what} (a file is written path/file.py:callable)") from None
    except Exception as e:
        raise ConfigError(f"model reference {ref!r}: importing {head!r} failed: {type(e).__name__}: {e}") from None


def _attribute(module: Any, attr: str, ref: str) -> Callable[..., Any]:
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            names = [n for n in vars(module) if not n.startswith("_") and callable(getattr(module, n))]
            where = getattr(module, "__file__", None) or module.__name__
            shown = sorted(names)[:12] + (["…"] if len(names) > 12 else [])
            raise ConfigError(f"model reference {ref!r}: {where} has no attribute {attr!r}{suggest(attr, names)}; "
                              f"it defines: {', '.join(shown) or 'no callables'}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ConfigError(f"model reference {ref!r}: {attr!r} is of type {type(obj).__name__}, expected a class or a "
                          f"function that returns a torch.nn.Module")
    return obj


def _zoo_factory(lib: str, name: str, ref: str) -> Callable[..., Any]:
    """A factory taking the ``num_classes`` / ``in_channels`` convention for a timm or torchvision architecture."""
    try:
        mod = importlib.import_module(lib)
    except Exception as e:  # missing, or present but broken (torchvision beside a CPU torch it was not built for)
        why = "is not installed" if isinstance(e, ModuleNotFoundError) else f"does not import ({type(e).__name__})"
        raise ConfigError(f"model reference {ref!r}: {lib} {why}; install the zoo extra: {ZOO_EXTRA}") from None
    names = mod.list_models() if lib == "timm" else mod.models.list_models()
    if name not in names:
        raise ConfigError(f"model reference {ref!r}: {lib} has no architecture {name!r}{suggest(name, names)}")
    if lib == "timm":
        def timm_model(num_classes: int = 1000, in_channels: int = 3, pretrained: bool = False, **kwargs: Any) -> Any:
            if pretrained:
                return timm_pretrained(mod.create_model, name, ref, num_classes=num_classes, in_chans=in_channels,
                                       **kwargs)
            return mod.create_model(name, pretrained=False, num_classes=num_classes, in_chans=in_channels, **kwargs)
        return timm_model

    def torchvision_model(num_classes: int = 1000, pretrained: bool = False, **kwargs: Any) -> Any:
        if pretrained:
            return torchvision_pretrained(mod.models, name, ref, num_classes, **kwargs)
        return mod.models.get_model(name, weights=None, num_classes=num_classes, **kwargs)
    return torchvision_model


def accepted(factory: Callable[..., Any]) -> tuple[list[str], bool]:
    """The keyword names ``factory`` takes, and whether it also takes ``**kwargs``."""
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return [], True
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    names = [n for n, p in sig.parameters.items() if p.kind in kinds and n != "self"]
    return names, any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())


def check_names(source: ModelSource, kwargs: dict[str, Any]) -> None:
    """Refuse kwargs a foreign constructor does not take, naming them and the accepted ones."""
    names, var_kw = accepted(source.factory)
    unknown = [k for k in kwargs if k not in names]
    if unknown and not var_kw:
        raise ConfigError(f"model_kwargs for {source.label!r}: it does not take {', '.join(unknown)}; it takes: "
                          f"{', '.join(names) or 'no arguments'}")
