"""The one result printer: a verb's result as a headline (or the verb's own ``show``), or as JSON."""

from __future__ import annotations

import importlib
import json
import os
import sys
from typing import Any

from ..configs.verb import Verb
from ..utils.io import to_jsonable


def resolve(path: str) -> Any:
    """``"module:name"`` → the object (imported on demand, so ``--help`` never imports a stage)."""
    module, _, name = path.partition(":")
    if module == "edgevision":  # the public API: look it up where it is defined (the package binds it lazily)
        module = importlib.import_module("edgevision")._API.get(name, module)
    return getattr(importlib.import_module(module), name)


def headline(result: Any) -> str:
    """``saved <artifact>  (<what the stage did, and its test metrics>)`` for a stage's result."""
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
    if ds is None or key not in teacher:
        return ""
    return f"teacher {key} {teacher[key]:.4f}, distillation score {ds:.3f}"


def _tested(card: dict[str, Any]) -> str:
    if card.get("verdict"):
        return ""
    test = (card.get("metrics") or {}).get("test") or {}
    text = ", ".join(f"{k} {v:.4f}" for k, v in test.items() if isinstance(v, float) and k != "loss")
    return f"test: {text}" if text else ""


def payload(verb: Verb, result: Any) -> Any:
    """What ``--json`` prints: ``verb.json`` (a card key, or a function of the result), else the card or result."""
    if verb.json and ":" in verb.json:
        return resolve(verb.json)(result)
    card = getattr(result, "card", None)
    if card is None:
        return [getattr(r, "card", r) for r in result] if isinstance(result, list) else result
    return card.get(verb.json) if verb.json else card


def show(verb: Verb, result: Any, as_json: bool) -> None:
    """Print ``result`` (only on rank 0 of a distributed run)."""
    if os.environ.get("RANK", "0") != "0":
        return
    if as_json:
        sys.stdout.write(json.dumps(to_jsonable(payload(verb, result)), indent=2, default=str) + "\n")
        return
    text = resolve(verb.show)(result) if verb.show else headline(result)
    if text:
        print(text)
