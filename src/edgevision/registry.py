"""One generic registry, used for models, datasets, losses, pruning criteria, exporters and runtimes.

Each registry names the packages that hold its built-in entries (``builtins``). Those packages register their
entries when imported (every package's ``__init__`` imports its own modules: one place per package), and the
registry imports them the first time it is asked for an entry or its names. So ``import edgevision`` stays light,
and ``MODELS.get("lenet5")`` works from any entry point without a list of side-effect imports.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from .errors import EdgevisionError, suggest

T = TypeVar("T")
ALL: dict[str, Registry] = {}  # plural name → registry, for `edgevision list`


@dataclass(frozen=True)
class Entry(Generic[T]):
    """A registered object plus free-form metadata (e.g. a model's default input size)."""

    name: str
    obj: T
    meta: dict[str, Any] = field(default_factory=dict)


class Registry(Generic[T]):
    """Name → object map that raises on duplicates and suggests close names on a miss.

    Example:
        >>> MODELS = Registry("model", builtins=("edgevision.models",))
        >>> @MODELS.register("tiny", default_input=(1, 28, 28))
        ... def tiny(num_classes=10): ...
    """

    def __init__(self, kind: str, builtins: tuple[str, ...] = (), plural: str | None = None) -> None:
        self.kind = kind
        self.builtins = builtins
        self._loaded = not builtins
        self._entries: dict[str, Entry[T]] = {}
        ALL[plural or kind.replace(" ", "-") + "s"] = self

    def _load(self) -> None:
        """Import the packages that register the built-in entries (once; safe while they are importing)."""
        if not self._loaded:
            self._loaded = True
            for mod in self.builtins:
                importlib.import_module(mod)

    def register(self, name: str, obj: T | None = None, **meta: Any) -> Callable[[T], T] | T:
        """Register ``obj`` under ``name``; usable as a decorator when ``obj`` is omitted."""

        def _add(o: T) -> T:
            if name in self._entries:
                raise ValueError(f"duplicate {self.kind} {name!r}: already registered")
            self._entries[name] = Entry(name, o, dict(meta))
            return o

        return _add if obj is None else _add(obj)

    def entry(self, name: str) -> Entry[T]:
        """Return the entry for ``name`` or raise an :class:`EdgevisionError` naming close matches."""
        if name not in self._entries:
            self._load()
        if name not in self._entries:
            raise EdgevisionError(f"unknown {self.kind} {name!r}{suggest(name, self._entries)}; "
                                  f"choose from: {', '.join(sorted(self._entries))}")
        return self._entries[name]

    def get(self, name: str) -> T:
        return self.entry(name).obj

    def names(self) -> list[str]:
        self._load()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        if name not in self._entries:
            self._load()
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(self._entries[n] for n in self.names())

    def __len__(self) -> int:
        self._load()
        return len(self._entries)
