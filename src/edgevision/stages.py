"""The stage registry: each verb (train, eval, profile, …) is a config model plus a function.

A recipe is a list of these verbs with their options; the CLI calls the same functions. A stage function takes
its validated config and an output folder and returns a :class:`StageResult`. Stages that consume an artifact
declare it with ``input_field`` so a recipe can default it to the previous stage's output (``"@prev"``) or
refer to an earlier stage by name (``"@train"``).
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from .config import load_yaml, validate
from .registry import Registry
from .utils.threads import compute_threads

STAGES: Registry = Registry("stage", builtins=(
    "edgevision.train", "edgevision.compress", "edgevision.deploy", "edgevision.bench", "edgevision.apps",
    "edgevision.faces", "edgevision.report", "edgevision.search"), plural="stages")


@dataclass
class StageResult:
    """What a stage leaves behind: its folder, main artifact (if any), card, and headline metrics."""

    run_dir: Path
    artifact: Path | None = None
    card: dict[str, Any] = field(default_factory=dict)

    @property
    def metrics(self) -> dict[str, Any]:
        return self.card.get("metrics", {})


@dataclass(frozen=True)
class StageSpec:
    name: str
    config: type[BaseModel]
    fn: Callable[[Any, Path], StageResult]
    input_field: str | None = None  # config field holding the input artifact
    summary: str = ""


def stage(name: str, config: type[BaseModel], input_field: str | None = None, summary: str = ""):
    """Decorator registering ``fn(cfg, out) -> StageResult`` as the stage ``name``."""

    def wrap(fn: Callable[[Any, Path], StageResult]) -> Callable[[Any, Path], StageResult]:
        STAGES.register(name, StageSpec(name, config, fn, input_field, summary))
        return fn

    return wrap


def artifact_name(value: Any) -> str:
    """A short, path-safe name for a stage's input: the file stem, or the run folder's name for a run-folder
    artifact (``runs/qs/export/model.onnx`` → ``export``); the first of a list (bench takes several)."""
    if isinstance(value, list | tuple):
        value = value[0] if value else ""
    p = Path(str(value or ""))
    name = p.parent.name if p.stem in ("model", "report") and p.parent.name else p.stem or p.name
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", name).strip("-.")


def default_out(verb: str, hint: Any = "") -> Path:
    """``runs/<verb>-<input name>-<time>``."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    tag = f"-{name}" if (name := artifact_name(hint)) else ""
    return Path("runs") / f"{verb}{tag}-{stamp}"


def deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """``top`` over ``base``, recursing into nested mappings."""
    out = dict(base)
    for k, v in top.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def execute(spec: StageSpec, cfg: BaseModel, out: Path) -> StageResult:
    """Run a validated stage with its ``threads`` option applied (a list, as bench's, is the stage's own)."""
    n = getattr(cfg, "threads", None)
    with compute_threads(n if isinstance(n, int) else None):
        return spec.fn(cfg, out)


def run_stage(name: str, options: dict[str, Any], out: str | Path | None = None) -> StageResult:
    """Validate ``options`` for stage ``name`` and run it (the body of every public verb function)."""
    spec: StageSpec = STAGES.get(name)
    options = {k: v for k, v in options.items() if v is not None}
    if options.get("resume") and out and (Path(out) / "config.yaml").is_file():
        options = deep_merge(load_yaml(Path(out) / "config.yaml") or {}, options)  # resume with the saved options
    cfg = validate(spec.config, options, prefix=name)
    hint = getattr(cfg, spec.input_field, "") if spec.input_field else ""
    return execute(spec, cfg, Path(out) if out else default_out(name, hint))
