"""``edgevision list [REGISTRY]``: what each registry holds (models, data sources, tasks, exporters, ...)."""

from __future__ import annotations

import importlib
from importlib import resources
from typing import Any

from .errors import EdgevisionError, suggest
from .registry import ALL

# Registries that live in modules nothing else imports at start-up: importing them registers them in ALL.
HOMES = ("edgevision.stages", "edgevision.models", "edgevision.data", "edgevision.tasks", "edgevision.artifacts",
         "edgevision.compress", "edgevision.deploy", "edgevision.apps", "edgevision.report")


def recipes() -> list[dict[str, Any]]:
    """The packaged recipes, resolved by name in ``edgevision run NAME``."""
    folder = resources.files("edgevision") / "recipes"
    return [{"name": f.name[:-5], "description": _first_comment(f.read_text())}
            for f in sorted(folder.iterdir(), key=lambda f: f.name) if f.name.endswith(".yaml")]


def _first_comment(text: str) -> str:
    return next((ln.lstrip("# ").strip() for ln in text.splitlines() if ln.startswith("#")), "")


def listing(registry: str | None = None) -> list[dict[str, Any]]:
    """Rows ``{name, description}`` of one registry, or one row per registry when ``registry`` is None."""
    for mod in HOMES:
        importlib.import_module(mod)
    if registry is None:
        rows = [{"name": k, "description": f"{len(r)} {r.kind} entries"} for k, r in sorted(ALL.items())]
        from . import shipped

        return [*rows, {"name": "recipes", "description": f"{len(recipes())} packaged recipes"},
                {"name": "pretrained", "description": f"{len(shipped.names())} shipped pretrained models"}]
    if registry == "recipes":
        return recipes()
    if registry == "pretrained":
        from . import shipped

        return [{"name": r["name"], "description": r["summary"] or r["task"]} for r in shipped.listing()]
    if registry not in ALL:
        names = [*ALL, "recipes", "pretrained"]
        raise EdgevisionError(f"unknown registry {registry!r}{suggest(registry, names)}; choose from: "
                              f"{', '.join(sorted(names))}")
    return [{"name": e.name, "description": _describe_entry(e.meta, e.obj)} for e in ALL[registry]]


def _describe_entry(meta: dict[str, Any], obj: Any) -> str:
    summary = getattr(obj, "summary", "")
    own = getattr(obj, "description", "")
    text = (meta.get("description") or meta.get("formula") or (own if isinstance(own, str) else "")
            or (summary if isinstance(summary, str) else "") or getattr(obj, "__doc__", "") or "")
    return str(text).strip().splitlines()[0] if str(text).strip() else ""


def describe(rows: list[dict[str, Any]]) -> str:
    width = max((len(r["name"]) for r in rows), default=0) + 2
    return "\n".join(f"{r['name']:<{width}}{r['description']}" for r in rows)
