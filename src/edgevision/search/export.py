"""``trials.json``: every trial of a study as plain data, plus the best trial or the Pareto front.

The report draws the search section from this file alone (no Optuna, no models).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna

from ..utils.io import write_json
from .slots import SURPLUS
from .study import redact

if TYPE_CHECKING:
    from .run import Plan


def trial_row(t: optuna.trial.FrozenTrial) -> dict[str, Any]:
    return {"number": t.number, "state": t.state.name.lower(), "values": list(t.values) if t.values else None,
            "params": dict(t.params), "worker": t.user_attrs.get("worker"), "run_dir": t.user_attrs.get("run_dir"),
            "curve": t.user_attrs.get("curve", []), "pruned_after_epoch": t.user_attrs.get("pruned_after_epoch"),
            "error": t.user_attrs.get("error"),
            "start": t.datetime_start.isoformat(timespec="seconds") if t.datetime_start else None,
            "seconds": round(t.duration.total_seconds(), 2) if t.duration else None}


def _front(study: optuna.Study) -> list[int]:
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        return []
    if len(study.directions) == 1:
        return [study.best_trial.number]
    return sorted(t.number for t in study.best_trials)


def _importances(study: optuna.Study, n_objectives: int) -> list[dict[str, float]]:
    """fANOVA importance of each parameter for each objective (empty when too few trials finished)."""
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(complete) < 4 or not any(t.params for t in complete):
        return []
    out = []
    for i in range(n_objectives):
        try:
            imp = optuna.importance.get_param_importances(
                study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0), target=lambda t, i=i: t.values[i])
        except (ValueError, RuntimeError, IndexError):
            return []
        out.append({k: round(float(v), 4) for k, v in imp.items()})
    return out


def _best_artifact(rows: dict[int, dict[str, Any]], number: int | None, stage: str) -> str | None:
    if number is None or not rows[number].get("run_dir"):
        return None
    stage_dir = Path(rows[number]["run_dir"]) / stage
    try:
        return str(stage_dir / _card_artifact(stage_dir))
    except (OSError, KeyError, ValueError, TypeError):
        return None


def _card_artifact(stage_dir: Path) -> str:

    name = json.loads((stage_dir / "card.json").read_text())["artifact"]
    if not name:
        raise ValueError("no artifact")
    return name


def export_trials(study: optuna.Study, p: Plan) -> dict[str, Any]:
    """Write ``<out>/trials.json`` and return its summary (counts, best trial, best artifact)."""
    front = _front(study)  # first: trials only move on from running, so the front's trials are complete below too
    trials = [t for t in study.get_trials(deepcopy=False) if not t.user_attrs.get(SURPLUS)]
    rows = {t.number: trial_row(t) for t in trials}
    front = [n for n in front if n in rows and rows[n]["values"]]
    counts = {s: sum(r["state"] == s for r in rows.values()) for s in ("complete", "pruned", "fail", "running")}
    counts["trials"] = len(rows)
    # "best": the front's best on the first objective (for one objective, the best trial)
    sign = 1 if p.objectives[0].direction == "maximize" else -1
    best_n = max(front, key=lambda n: sign * rows[n]["values"][0]) if front else None
    best = None if best_n is None else {"number": best_n, "values": rows[best_n]["values"],
                                         "params": rows[best_n]["params"]}
    doc = {"study": p.study, "storage": redact(p.storage), "sampler": p.sampler, "target_trials": p.trials,
           "objectives": [{"name": o.name, "stage": o.stage, "key": o.key, "direction": o.direction,
                           "latency": o.latency.model_dump() if o.latency else None} for o in p.objectives],
           "params": {k: v.model_dump(exclude_none=True) for k, v in p.section.params.items()},
           "pruner": p.section.pruner.kind if len(p.objectives) == 1 else "none (multi-objective)",
           "counts": counts, "front": front, "best": best, "importances": _importances(study, len(p.objectives)),
           "trials": [rows[n] for n in sorted(rows)]}
    write_json(p.out / "trials.json", doc)
    return {"counts": counts, "best": best, "best_artifact": _best_artifact(rows, best_n, p.objectives[0].stage)}
