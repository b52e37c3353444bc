"""Unreadable samples: which files of a split could not be decoded, so every stage names them.

A file-backed dataset returns ``None`` for a file it cannot decode; the :class:`~.loader.BatchLoader` drops it and
records its name here, on the dataset, in the main process (worker processes only pass the index back). Readers
that decode everything up front record what they dropped too (``counted=False``: not in ``len(ds)`` any more).
Stages then print one warning line per split with the first :data:`SHOWN` names, list all of them in the run
folder's ``skipped.txt``, and put per-split counts — and the sizes actually used — into the card.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..utils.io import write_text
from ..utils.progress import console
from ..utils.text import printable

SHOWN = 10  # names in the console line; skipped.txt has all of them
SKIPPED_FILE = "skipped.txt"


def unreadable(ds: Any) -> dict[str, bool]:
    """The unreadable files recorded for ``ds``: name → whether ``len(ds)`` still counts it."""
    reg = getattr(ds, "_unreadable", None)
    if reg is None:
        reg = {}
        ds._unreadable = reg
    return reg


def record(ds: Any, names: Iterable[str], counted: bool = True) -> None:
    reg = unreadable(ds)
    for n in names:
        reg.setdefault(str(n), counted)


def used(ds: Any) -> int:
    """Samples of ``ds`` that were actually read (its length minus the unreadable files it still counts)."""
    return len(ds) - sum(unreadable(ds).values())


def name_of(ds: Any, i: int) -> str:
    """A name for sample ``i``: its file when the dataset knows it, else its index."""
    fn = getattr(ds, "name_of", None)
    return fn(i) if fn is not None else f"sample {i}"


def describe(names: list[str], where: str) -> str:
    """``"3 unreadable files skipped in the val split: a.jpg, b.jpg, c.jpg"`` (the first :data:`SHOWN` names)."""
    shown = ", ".join(printable(n) for n in names[:SHOWN])
    more = f", … (+{len(names) - SHOWN} more; all in {SKIPPED_FILE})" if len(names) > SHOWN else ""
    return f"{len(names)} unreadable file{'s' if len(names) != 1 else ''} skipped {where}: {shown}{more}"


def warn_new(ds: Any, split: str) -> None:
    """Print one warning line for the unreadable files of ``ds`` not reported yet (rank 0 only)."""
    names = list(unreadable(ds))
    start = getattr(ds, "_unreadable_reported", 0)
    ds._unreadable_reported = len(names)
    if len(names) > start and os.environ.get("RANK", "0") == "0":
        console.print(f"[yellow]warning:[/] {describe(names[start:], f'in the {split} split')}", highlight=False,
                      soft_wrap=True)


def summarize(splits: dict[str, Any], folder: Path | None = None) -> dict[str, Any]:
    """Card fields ``unreadable`` (count per split) and ``samples`` (used per split); writes ``skipped.txt``
    (``<split>\\t<file>`` per line) into ``folder`` when any file was unreadable."""
    counts = {s: len(unreadable(ds)) for s, ds in splits.items()}
    if folder is not None and any(counts.values()):
        lines = [f"{s}\t{printable(n)}\n" for s, ds in splits.items() for n in unreadable(ds)]
        write_text(folder / SKIPPED_FILE, "".join(lines))
    return {"unreadable": counts, "samples": {s: used(ds) for s, ds in splits.items()}}
