"""Run folders and model cards.

Every stage writes one folder::

    config.yaml    the resolved config
    metrics.jsonl  one JSON line per epoch (training stages)
    model.pt       (or .evz / .onnx) the stage's artifact
    card.json      task, model, params, MACs, file bytes, metrics, latency, parent artifact, git SHA, version

``card.json`` is written last, atomically, with ``"status": "complete"``; a folder without it is unfinished and
a recipe re-runs (or resumes) that stage. :func:`claim` is the one place that decides whether a stage may write
into a folder that already holds a run (finished or interrupted): ``resume`` continues or reuses it, ``overwrite``
moves it aside to ``<out>.old-<time>``, and anything else is refused, so no run is lost by a plain re-run.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any, Literal

from ._version import __version__
from .errors import ArtifactError, ConfigError, EdgevisionError
from .utils.io import append_jsonl, read_jsonl, write_json, write_yaml
from .utils.progress import console


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


RUN_MARKERS = ("card.json", "config.yaml", "metrics.jsonl", "checkpoints")  # any of them: a run was started here


def holds_run(path: Path) -> bool:
    """Whether ``path`` holds (part of) a run: a card, a config, a metrics log or checkpoints."""
    return path.is_dir() and any((path / m).exists() for m in RUN_MARKERS)


def move_aside(path: Path) -> Path:
    """Rename ``path`` to ``<path>.old-<time>`` (``-2``, ``-3``, … if taken) and return the new name."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    dest, k = path.with_name(f"{path.name}.old-{stamp}"), 2
    while dest.exists():
        dest, k = path.with_name(f"{path.name}.old-{stamp}-{k}"), k + 1
    path.rename(dest)
    return dest


def claim(run: RunDir, *, resume: bool, overwrite: bool, main: bool = True) -> Literal["new", "resume", "finished"]:
    """Decide what a stage may do with its output folder before it writes anything.

    Returns ``"new"`` (nothing there, or moved aside by ``overwrite``), ``"resume"`` (an interrupted run to continue)
    or ``"finished"`` (a complete run that ``resume`` reuses). A folder holding a run, finished or interrupted, is
    refused without ``resume`` or ``overwrite``. Only the ``main`` process (rank 0) moves folders.
    """
    if resume and overwrite:
        raise ConfigError("resume and overwrite exclude each other: resume continues the run in --out, overwrite "
                          "starts over")
    if not holds_run(run.path):
        return "new"
    if overwrite:
        if main:
            console.print(f"overwrite: moved the old run to {move_aside(run.path)}", highlight=False)
        return "new"
    aside = f"{run.path}.old-<time>"
    if run.is_complete():
        if resume:
            return "finished"
        raise EdgevisionError(f"{run.path} already holds a finished run; pass --resume to reuse it, --overwrite to "
                              f"start over (the old run moves to {aside}), or choose another --out")
    if resume:
        return "resume"
    raise EdgevisionError(f"{run.path} holds an interrupted run; pass --resume to continue it, or --overwrite to "
                          f"start over (the old run moves to {aside})")


def headline(result: Any) -> str:
    """``saved <artifact>  (<what the stage did, and its test metrics>)``: the one line the CLI prints for a stage's
    result, read from its card (test metrics, a verdict, the .evz size, sparsity, new size, distillation)."""
    card = getattr(result, "card", None)
    if card is None:
        return "" if result is None else str(result)
    parts = [text for fn in (_verdict, _packed, _sparsity, _size, _distilled, _tested) if (text := fn(card))]
    return f"saved {result.artifact or result.run_dir}" + (f"  ({'; '.join(parts)})" if parts else "")


def _verdict(card: dict[str, Any]) -> str:
    return card.get("verdict") or ""


def _packed(card: dict[str, Any]) -> str:
    c = card.get("compression")
    if not c:
        return ""
    rate = c["compression_rate"]
    ratio = f"{rate:.2f}× smaller than" if rate >= 1 else f"{1 / rate:.2f}× larger than"
    return f"{c['evz_bytes']:,} bytes, {ratio} dense fp32 ({c['dense_bytes']:,} bytes)"


def _sparsity(card: dict[str, Any]) -> str:
    sp = card.get("sparsity")
    return f"sparsity {sp['weights']:.2%}" if isinstance(sp, dict) and "weights" in sp else ""


def _size(card: dict[str, Any]) -> str:
    if not any(k in card for k in ("shrink", "lowrank")):
        return ""
    drop = (card.get("metrics") or {}).get("drop_points")
    return f"params {card['params']:,}, MACs {card['macs']:,}" + (f", drop {drop} points" if drop is not None else "")


def _distilled(card: dict[str, Any]) -> str:
    dist, teacher = card.get("distillation") or {}, (card.get("teacher") or {}).get("test") or {}
    key, ds = dist.get("metric") or "top1", dist.get("score")
    student = ((card.get("metrics") or {}).get("test") or {}).get(key)
    if ds is None or key not in teacher or student is None:
        return ""
    name = "top-1" if key == "top1" else key
    return f"test {name}: student {student:.4f}, teacher {teacher[key]:.4f}; distillation score {ds:.3f}"


def _tested(card: dict[str, Any]) -> str:
    if card.get("verdict") or _distilled(card):
        return ""
    test = (card.get("metrics") or {}).get("test") or {}
    text = ", ".join(f"{k} {v:.4f}" for k, v in test.items() if isinstance(v, float) and k != "loss")
    return f"test: {text}" if text else ""
