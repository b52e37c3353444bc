"""Recipe key paths (``stages.train.lr``, ``data.input_size``) and sampling them from an Optuna trial."""

from __future__ import annotations

import copy
from typing import Any

import optuna

from ..errors import ConfigError
from .config import ParamSpec


def _stage_names(recipe: dict[str, Any]) -> list[str]:
    """The names a recipe gives its stages (the ``name`` option, else the verb; repeats get ``_<index>``)."""
    names, seen = [], set()
    for i, entry in enumerate(recipe.get("stages") or []):
        verb, opts = next(iter(entry.items())) if isinstance(entry, dict) and len(entry) == 1 else (f"#{i}", {})
        name = str((opts or {}).get("name", verb))
        if name in seen:
            name = f"{name}_{i}"
        seen.add(name)
        names.append(name)
    return names


def stage_index(recipe: dict[str, Any], ref: str, where: str) -> int:
    """Index of the stage named ``ref`` (or numbered ``ref``) in the recipe's ``stages`` list."""
    names = _stage_names(recipe)
    if ref.isdigit() and int(ref) < len(names):
        return int(ref)
    if ref in names:
        return names.index(ref)
    raise ConfigError(f"{where}: no stage named {ref!r}; stages: {', '.join(names) or 'none'}")


def _container(recipe: dict[str, Any], path: str) -> tuple[dict[str, Any], list[str]]:
    """The mapping a path starts in (a stage's options or the recipe itself) and the remaining keys."""
    parts = path.split(".")
    if any(not p for p in parts):
        raise ConfigError(f"search.params: {path!r} is not a dotted key path")
    if parts[0] != "stages":
        return recipe, parts
    if len(parts) < 3:
        raise ConfigError(f"search.params.{path}: expected stages.<name>.<key>")
    entry = recipe["stages"][stage_index(recipe, parts[1], f"search.params.{path}")]
    verb = next(iter(entry))
    if entry[verb] is None:
        entry[verb] = {}
    return entry[verb], parts[2:]


def set_path(recipe: dict[str, Any], path: str, value: Any) -> None:
    """Set ``path`` in ``recipe`` (in place), creating intermediate mappings."""
    d, keys = _container(recipe, path)
    for k in keys[:-1]:
        nxt = d.setdefault(k, {})
        if not isinstance(nxt, dict):
            raise ConfigError(f"search.params.{path}: {k!r} holds {nxt!r}, not a mapping")
        d = nxt
    d[keys[-1]] = value


def get_path(recipe: dict[str, Any], path: str, default: Any = None) -> Any:
    try:
        d, keys = _container(copy.deepcopy(recipe), path)
    except ConfigError:
        return default
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return default
        d = d[k]
    return d


def suggest(trial: optuna.Trial, path: str, spec: ParamSpec) -> Any:
    """Draw one value of ``spec`` from the trial; the Optuna parameter is named by its key path."""
    kind = spec.kind
    if kind == "categorical":
        return trial.suggest_categorical(path, spec.choices)
    if kind == "int":
        return trial.suggest_int(path, int(spec.low), int(spec.high), step=int(spec.step or 1), log=spec.log)
    return trial.suggest_float(path, spec.low, spec.high, step=spec.step, log=spec.log)


def sample_recipe(trial: optuna.Trial, recipe: dict[str, Any], params: dict[str, ParamSpec]) -> dict[str, Any]:
    """A copy of ``recipe`` with every (applicable) parameter drawn from ``trial``, in declaration order."""
    out = copy.deepcopy(recipe)
    for path, spec in params.items():
        if spec.when and any(get_path(out, k) != v for k, v in spec.when.items()):
            continue
        set_path(out, path, suggest(trial, path, spec))
    return out


def corners(params: dict[str, ParamSpec]) -> list[dict[str, Any]]:
    """A few assignments that together touch every choice and both ends of every range (to validate a space)."""
    values = {}
    for path, spec in params.items():
        if spec.kind == "categorical":
            values[path] = list(spec.choices)
        elif spec.kind == "int":
            values[path] = [int(spec.low), int(spec.high)]
        else:
            values[path] = [spec.low, spec.high]
    n = max(len(v) for v in values.values())
    return [{p: v[min(i, len(v) - 1)] for p, v in values.items()} for i in range(n)]
