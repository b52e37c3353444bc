"""Typed configs: YAML load, validation with one-line messages, and dumping the resolved config.

Configs hold values only (no code). Validation is done early by pydantic models with ``extra="forbid"``; a
failure becomes a :class:`ConfigError` that names the key path, the bad value and what is allowed, e.g.::

    stages[0].train.optimizer: got 'sgdd'; allowed: 'sgd', 'adam', 'adamw'
    stages[0].train.epohcs: unknown key (did you mean: epochs?); allowed keys: batch_size, epochs, ...
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from .errors import ConfigError, suggest

M = TypeVar("M", bound=BaseModel)


def _loc(prefix: str, loc: tuple) -> str:
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("function-after", "function-before", "tagged-union"):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out or "<root>"


def _model_at(model: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """Follow ``loc`` through nested pydantic models to find the model that owns the last key."""
    cur: Any = model
    for part in loc[:-1]:
        if isinstance(part, int) or not (isinstance(cur, type) and issubclass(cur, BaseModel)):
            continue
        field = cur.model_fields.get(part)
        if field is None:
            return None
        cur = _unwrap(field.annotation)
    return cur if isinstance(cur, type) and issubclass(cur, BaseModel) else None


def _unwrap(tp: Any) -> Any:
    for arg in typing.get_args(tp) or (tp,):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return tp


def _describe(model: type[BaseModel], err: dict, prefix: str) -> str:
    where = _loc(prefix, err["loc"])
    if err["type"] == "extra_forbidden":
        owner = _model_at(model, err["loc"])
        allowed = sorted(owner.model_fields) if owner else []
        key = str(err["loc"][-1])
        return f"{where}: unknown key{suggest(key, allowed)}; allowed keys: {', '.join(allowed)}"
    got = err.get("input")
    ctx = err.get("ctx") or {}
    if "expected" in ctx:
        return f"{where}: got {got!r}; allowed: {ctx['expected']}"
    msg = err["msg"].replace("Input should be", "should be").replace("Value error, ", "")
    if err["type"] == "missing":
        return f"{where}: required key is missing"
    return f"{where}: {msg}" if not err["loc"] else f"{where}: {msg}, got {got!r}"  # a whole-model check: no "got"


def validate(model: type[M], data: Any, prefix: str = "") -> M:
    """Build ``model`` from ``data`` or raise a ConfigError describing the first problem in one line."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or '<root>'}: expected a mapping of keys to values, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        errors = e.errors()
        first = _describe(model, errors[0], prefix)
        more = f" (and {len(errors) - 1} more problem{'s' * (len(errors) > 2)})" if len(errors) > 1 else ""
        raise ConfigError(first + more) from None


def load_yaml(path: str | Path) -> Any:
    """Read a YAML file with safe_load; a missing or malformed file is a one-line ConfigError."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: no such file")
    try:
        return yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{p}: invalid YAML{where}: {getattr(e, 'problem', e)}") from None


def drop_none(d: dict[str, Any]) -> dict[str, Any]:
    """Remove unset (None) overrides so defaults stand."""
    return {k: v for k, v in d.items() if v is not None}


def dump(model: BaseModel) -> dict[str, Any]:
    """The resolved config as plain YAML-able values."""
    return model.model_dump(mode="json")
