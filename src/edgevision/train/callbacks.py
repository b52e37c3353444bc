"""Hooks into the training loop. Compression stages use them (e.g. pruning keeps masks applied)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .trainer import Trainer


class Callback:
    """Override any of these; the trainer calls them in this order within an epoch."""

    def on_fit_start(self, trainer: Trainer) -> None: ...

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None: ...

    def on_before_step(self, trainer: Trainer) -> None:
        """After ``backward()``, before ``optimizer.step()`` (e.g. mask gradients)."""

    def on_step_end(self, trainer: Trainer) -> None:
        """After ``optimizer.step()`` (e.g. re-apply pruning masks)."""

    def on_epoch_end(self, trainer: Trainer, epoch: int, record: dict[str, Any]) -> None: ...

    def on_fit_end(self, trainer: Trainer) -> None: ...

    def state_dict(self) -> dict[str, Any]:
        """Saved in the checkpoint so a resumed run restores callback state."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


_AMBIENT: ContextVar[tuple[Callback, ...]] = ContextVar("edgevision_ambient_callbacks", default=())


@contextlib.contextmanager
def extra_callbacks(*callbacks: Callback) -> Iterator[None]:
    """Attach ``callbacks`` to every :class:`Trainer` created inside the ``with`` block — how code that runs a whole
    stage or recipe (e.g. the hyper-parameter search reporting per-epoch values for pruning) hooks into its loop."""
    token = _AMBIENT.set(_AMBIENT.get() + tuple(callbacks))
    try:
        yield
    finally:
        _AMBIENT.reset(token)


def ambient_callbacks() -> tuple[Callback, ...]:
    return _AMBIENT.get()
