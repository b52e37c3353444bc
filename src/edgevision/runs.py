"""Run folders and model cards.

Every stage writes one folder::

    config.yaml    the resolved config
    metrics.jsonl  one JSON line per epoch (training stages)
    model.pt       (or .evz / .onnx) the stage's artifact
    card.json      task, model, params, MACs, file bytes, metrics, latency, parent artifact, git SHA, version

``card.json`` is written last, atomically, with ``"status": "complete"``; a folder without it is unfinished and
a recipe re-runs (or resumes) that stage.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from ._version import __version__
from .errors import ArtifactError
from .utils.io import append_jsonl, read_jsonl, write_json, write_yaml


@functools.lru_cache(maxsize=1)
def git_sha() -> str | None:
    """The commit of the edgevision checkout this code runs from, or None outside a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True,
                             timeout=5, check=False)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def machine() -> dict[str, Any]:

    import torch

    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "torch": torch.__version__, "python": platform.python_version(),
            "isa": torch.backends.cpu.get_cpu_capability()}


class RunDir:
    """A stage's output folder."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def mkdir(self) -> RunDir:
        self.path.mkdir(parents=True, exist_ok=True)
        return self

    @property
    def card_path(self) -> Path:
        return self.path / "card.json"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    def is_complete(self) -> bool:
        return self.card_path.exists() and self.card().get("status") == "complete"

    def write_config(self, cfg: dict[str, Any]) -> None:
        write_yaml(self.path / "config.yaml", cfg)

    def log(self, record: dict[str, Any]) -> None:
        append_jsonl(self.metrics_path, record)

    def history(self) -> list[dict[str, Any]]:
        return read_jsonl(self.metrics_path)

    def card(self) -> dict[str, Any]:
        try:
            return json.loads(self.card_path.read_text())
        except FileNotFoundError:
            return {}
        except json.JSONDecodeError as e:
            raise ArtifactError(f"{self.card_path}: corrupt card ({e})") from None

    def write_card(self, card: dict[str, Any]) -> dict[str, Any]:
        write_json(self.card_path, card)
        return card

    def artifact(self) -> Path:
        """The stage's main artifact as named by its card."""
        name = self.card().get("artifact")
        if not name:
            raise ArtifactError(f"{self.path}: no finished stage here (card.json missing or without an artifact)")
        return self.path / name


def make_card(stage: str, *, task: dict[str, Any] | None = None, model: dict[str, Any] | None = None,
              artifact: Path | None = None, metrics: dict[str, Any] | None = None, parent: str | None = None,
              **extra: Any) -> dict[str, Any]:
    """Assemble a card. ``extra`` adds stage-specific fields (params, macs, latency, data, ...)."""
    card: dict[str, Any] = {
        "status": "complete", "stage": stage,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "edgevision_version": __version__, "git_sha": git_sha(),
        "task": task, "model": model,
        "artifact": artifact.name if artifact else None,
        "file_bytes": artifact.stat().st_size if artifact and artifact.exists() else None,
        "metrics": metrics or {}, "parent": parent,
    }
    card.update(extra)
    return card
