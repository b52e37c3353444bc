"""What a trial is scored on, read from the run folders it leaves, and the per-epoch reporter used for pruning."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import torch

from ..artifacts import load_artifact
from ..deploy.onnx import export_onnx, ort_session
from ..errors import ConfigError, EdgevisionError
from ..models import MODELS
from ..stages import STAGES
from ..tasks import TASKS
from ..train.callbacks import Callback
from ..utils.timing import measure
from .config import LatencySpec, ObjectiveSpec
from .space import _stage_names

_MINIMIZE_SUFFIX = ("loss", "_ms", "ms", "bytes", "macs", "params", "error", "latency")
_MAXIMIZE = {"miou", "mdice", "mpa", "top1", "top5", "map", "ap", "ap50", "iou", "f1", "accuracy", "macro_f1",
             "miou_dataset", "roc_auc", "pixel_accuracy"}


@dataclass(frozen=True)
class Objective:
    """A resolved objective: where to read it and which way is better."""

    name: str
    stage: str
    direction: str  # "maximize" | "minimize"
    key: str | None = None
    latency: LatencySpec | None = None

    @property
    def history_key(self) -> str | None:
        """The ``metrics.jsonl`` column of this value per epoch (``metrics.val.miou`` → ``val_miou``), if any."""
        if self.key and self.key.startswith("metrics.val."):
            return "val_" + self.key.removeprefix("metrics.val.")
        return None


def _training_stage(recipe: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """(name, verb, options) of the first stage whose verb trains (its config has ``epochs``)."""
    for name, entry in zip(_stage_names(recipe), recipe["stages"]):
        verb, opts = next(iter(entry.items()))
        if verb in STAGES and "epochs" in STAGES.get(verb).config.model_fields:
            return name, verb, opts or {}
    raise ConfigError("search.objectives: the recipe has no training stage; name the objective's stage and key")


def _default_key(opts: dict[str, Any]) -> tuple[str, str]:
    """``metrics.val.<primary>`` of the stage's task (its ``task`` option or its model's registered task)."""
    task = opts.get("task") or (MODELS.entry(opts["model"]).meta.get("task", "classification")
                                if opts.get("model") in MODELS else "classification")
    cls = TASKS.get(task)
    return f"metrics.val.{cls.primary}", "maximize" if cls.mode == "max" else "minimize"


def _infer_direction(key: str, where: str) -> str:
    last = key.rsplit(".", 1)[-1]
    if last in _MAXIMIZE or last.startswith("map_"):
        return "maximize"
    if last.endswith(_MINIMIZE_SUFFIX):
        return "minimize"
    raise ConfigError(f"{where}: cannot tell whether {key!r} should be maximized or minimized; set 'direction'")


def resolve_objectives(specs: list[ObjectiveSpec], recipe: dict[str, Any]) -> list[Objective]:
    """Fill in defaults (stage, key, direction, name) and check that each named stage exists."""
    names = _stage_names(recipe)
    out = []
    for i, s in enumerate(specs):
        where = f"search.objectives[{i}]"
        if s.stage is None:
            stage, _, opts = _training_stage(recipe)
        elif s.stage in names:
            stage, opts = s.stage, next(iter(recipe["stages"][names.index(s.stage)].values())) or {}
        else:
            raise ConfigError(f"{where}.stage: no stage named {s.stage!r}; stages: {', '.join(names)}")
        if s.latency:
            lat = s.latency
            name = s.name or f"latency ms ({lat.engine}, {lat.threads} thread{'s' * (lat.threads > 1)})"
            out.append(Objective(name, stage, s.direction or "minimize", latency=lat))
            continue
        key, direction = (s.key, None) if s.key else _default_key(opts)
        direction = s.direction or direction or _infer_direction(key, where)
        label = key.removeprefix("metrics.").replace(".", " ")
        out.append(Objective(s.name or f"{label} ({stage})", stage, direction, key=key))
    return out


def read_value(obj: Objective, trial_dir: Path) -> float:
    """The objective's value for a finished trial folder."""
    stage_dir = trial_dir / obj.stage
    card_path = stage_dir / "card.json"
    if not card_path.exists():
        raise EdgevisionError(f"{stage_dir}: the stage did not finish (no card.json)")
    if obj.latency:
        return measure_latency(stage_dir, obj.latency)
    v: Any = json.loads(card_path.read_text())
    for part in obj.key.split("."):
        if not isinstance(v, dict) or part not in v:
            raise EdgevisionError(f"{card_path}: no {obj.key!r} in the card")
        v = v[part]
    if not isinstance(v, int | float):
        raise EdgevisionError(f"{card_path}: {obj.key!r} is {v!r}, not a number")
    return float(v)


def measure_latency(stage_dir: Path, spec: LatencySpec) -> float:
    """Batch-1 median milliseconds of the stage's artifact on ``spec.engine`` with ``spec.threads`` threads."""

    art = load_artifact(stage_dir)
    x = torch.randn(1, *art.input_shape)
    prev = torch.get_num_threads()
    torch.set_num_threads(spec.threads)
    try:
        if spec.engine == "torch":
            with torch.inference_mode():
                return measure(lambda: art.model(x), budget_s=spec.budget_s)["p50_ms"]
        with tempfile.TemporaryDirectory() as tmp:
            sess = ort_session(export_onnx(art.model, Path(tmp) / "m.onnx", art.input_shape), spec.threads)
            feed = {sess.get_inputs()[0].name: x.numpy()}
            return measure(lambda: sess.run(None, feed), budget_s=spec.budget_s)["p50_ms"]
    finally:
        torch.set_num_threads(prev)


class TrialReporter(Callback):
    """Records the objective's per-epoch value of one training stage on the trial (user attribute ``curve``) and,
    when ``prune`` is on, reports it to Optuna and stops the trial if the pruner says so."""

    def __init__(self, trial: optuna.Trial, stage: str, key: str, prune: bool) -> None:
        self.trial, self.stage, self.key, self.prune = trial, stage, key, prune
        self.curve: list[float] = []

    def on_epoch_end(self, trainer: Any, epoch: int, record: dict[str, Any]) -> None:
        if trainer.run is None or trainer.run.path.name != self.stage or self.key not in record:
            return
        value = float(record[self.key])
        self.curve.append(value)
        self.trial.set_user_attr("curve", self.curve)
        if self.prune:
            self.trial.report(value, epoch)
            if self.trial.should_prune():
                self.trial.set_user_attr("pruned_after_epoch", epoch + 1)
                raise optuna.TrialPruned(f"pruned after epoch {epoch + 1} ({self.key} {value:.4f})")
