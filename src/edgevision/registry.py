"""One generic registry, used for models, datasets, losses, pruning criteria, exporters and runtimes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from .errors import EdgevisionError, suggest

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """A registered object plus free-form metadata (e.g. a model's default input size)."""

    name: str
    obj: T
    meta: dict[str, Any] = field(default_factory=dict)


class Registry(Generic[T]):
    """Name → object map that raises on duplicates and suggests close names on a miss.

    Example:
        >>> MODELS = Registry("model")
        >>> @MODELS.register("tiny", default_input=(1, 28, 28))
        ... def tiny(num_classes=10): ...
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

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
            raise EdgevisionError(f"unknown {self.kind} {name!r}{suggest(name, self._entries)}; "
                                  f"choose from: {', '.join(sorted(self._entries))}")
        return self._entries[name]

    def get(self, name: str) -> T:
        return self.entry(name).obj

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(self._entries[n] for n in self.names())

    def __len__(self) -> int:
        return len(self._entries)
