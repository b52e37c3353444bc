"""Pretrained compact models that ship inside the package, resolved by name where an artifact is expected.

Each shipped model is two files in ``edgevision/pretrained/``: ``NAME.evz`` (the packed model, at most
:data:`MAX_BYTES`) and ``NAME.card.json`` (what it is: the data it learned from, its teacher, its test metrics,
its licence, and the benchmark that trained and measured it here). ``edgevision predict person-presence photos/``
opens ``person-presence.evz``; a path that exists always wins over a name.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import ArtifactError, suggest

MAX_BYTES = 300_000
SUFFIX, CARD = ".evz", ".card.json"


def folder() -> Path:
    """The package folder that holds the shipped files."""
    return Path(str(resources.files("edgevision") / "pretrained"))


def names() -> list[str]:
    """The shipped models' names, sorted."""
    d = folder()
    return sorted(p.name[: -len(SUFFIX)] for p in d.glob(f"*{SUFFIX}")) if d.is_dir() else []


def looks_like_name(ref: str) -> bool:
    """A bare word (no folder, no file suffix): what a shipped model's name looks like."""
    return bool(ref) and "/" not in ref and "\\" not in ref and "." not in ref and ":" not in ref


def path(name: str) -> Path | None:
    """``NAME.evz`` when ``name`` is shipped, else None."""
    if not looks_like_name(name):
        return None
    p = folder() / f"{name}{SUFFIX}"
    return p if p.is_file() else None


def require(name: str) -> Path:
    """``NAME.evz``, or one line naming the shipped models."""
    p = path(name)
    if p is None:
        have = names()
        listed = ", ".join(have) if have else "none in this install"
        raise ArtifactError(f"{name}: no such file, run folder or shipped model{suggest(name, have)} "
                            f"(shipped models: {listed}; `edgevision models --pretrained` lists them)")
    return p


def is_shipped(p: Path) -> bool:
    """True when ``p`` is one of the shipped files."""
    return p.suffix == SUFFIX and p.parent.resolve() == folder().resolve()


def card(name: str) -> dict[str, Any]:
    """The card of a shipped model (``{}`` when it has none)."""
    p = folder() / f"{name}{CARD}"
    return json.loads(p.read_text()) if p.is_file() else {}


def card_of(p: Path) -> dict[str, Any]:
    """The card of the shipped file ``p``."""
    return card(p.name[: -len(SUFFIX)])


def listing() -> list[dict[str, Any]]:
    """Rows ``{name, task, bytes, metrics, license, summary}`` of every shipped model."""
    rows = []
    for n in names():
        c = card(n)
        rows.append({"name": n, "task": c.get("task", ""), "bytes": (folder() / f"{n}{SUFFIX}").stat().st_size,
                     "metrics": c.get("metrics", {}), "license": c.get("license", ""),
                     "summary": c.get("summary", "")})
    return rows


def describe(rows: list[dict[str, Any]]) -> str:
    """The terminal table of :func:`listing`."""
    if not rows:
        return "no shipped models in this install"
    width = max(len(r["name"]) for r in rows) + 2
    lines = []
    for r in rows:
        metrics = ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                            for k, v in list(r["metrics"].items())[:3])
        lines.append(f"{r['name']:<{width}}{r['task']:<15}{r['bytes'] / 1000:6.0f} KB  {metrics}")
        if r["summary"]:
            lines.append(f"{'':<{width}}{r['summary']}")
    return "\n".join(lines)
