"""The one result printer: a verb's result as a headline (or the verb's own ``show``), or as JSON."""

from __future__ import annotations

import importlib
import json
import os
import sys
from typing import Any

from ..configs.verb import Verb
from ..runs import headline
from ..utils.io import to_jsonable


def resolve(path: str) -> Any:
    """``"module:name"`` → the object (imported on demand, so ``--help`` never imports a stage)."""
    module, _, name = path.partition(":")
    if module == "edgevision":  # the public API: look it up where it is defined (the package binds it lazily)
        module = importlib.import_module("edgevision")._API.get(name, module)
    return getattr(importlib.import_module(module), name)


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
