"""Collect the stages of one or more run folders, as plain data (no model code is imported)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import EdgevisionError
from ..utils.io import read_jsonl


@dataclass
class StageView:
    name: str
    path: Path
    card: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def verb(self) -> str:
        return str(self.card.get("stage", ""))

    def json(self, name: str) -> Any:
        """A JSON file of the stage folder, or None."""
        p = self.path / name
        try:
            return json.loads(p.read_text()) if p.exists() else None
        except json.JSONDecodeError:
            return None


def _view(p: Path) -> StageView | None:
    card_path = p / "card.json"
    if not card_path.exists():
        return None
    try:
        card = json.loads(card_path.read_text())
    except json.JSONDecodeError:
        return None
    return StageView(p.name, p, card, read_jsonl(p / "metrics.jsonl"))


def collect(paths: list[str | Path]) -> list[StageView]:
    """Stages found in ``paths``: each path is a stage folder or a folder of stage folders (a recipe run)."""
    views: list[StageView] = []
    for raw in paths:
        p = Path(raw)
        if not p.is_dir():
            raise EdgevisionError(f"{p}: no such run folder")
        if (v := _view(p)) is not None:
            views.append(v)
            continue
        order = _recipe_order(p)
        subs = sorted((d for d in p.iterdir() if d.is_dir() and ".old-" not in d.name),  # runs moved aside
                      key=lambda d: (order.get(d.name, 1 << 30), d.name))
        found = [v for d in subs if (v := _view(d)) is not None]
        if not found:
            raise EdgevisionError(f"{p}: no finished stages (no card.json here or in its subfolders)")
        views += found
    return views


def _recipe_order(p: Path) -> dict[str, int]:
    try:
        stages = json.loads((p / "recipe.json").read_text()).get("stages", [])
        return {s["name"]: i for i, s in enumerate(stages)}
    except (OSError, json.JSONDecodeError, KeyError, TypeError):
        return {}
