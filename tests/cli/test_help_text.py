"""Every option the CLI generates explains itself: each config field has a description, and the descriptions
cite the reference documents by author and year ("Björgvinsdóttir & Seibold (2016)"), never by internal numbers."""

from __future__ import annotations

import argparse
import importlib
import inspect
import re
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

import edgevision.configs as configs
from edgevision.cli.flags import model_of
from edgevision.cli.verbs import build_parser, discover

DOC_NUMBER = re.compile(r"doc 00", re.IGNORECASE)
MODULES = ("data", *configs.MODULES)


def nested_models(tp: typing.Any) -> list[type[BaseModel]]:
    """The pydantic models a field holds: ``X``, ``X | None``, ``list[X]``, ``dict[str, X]``."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    return [m for a in typing.get_args(tp) for m in nested_models(a)]


def reachable_fields() -> list[tuple[str, str, str | None]]:
    """(verb, dotted field, description) for each verb's fields and its nested models' fields, one level down."""
    rows = []
    for verb, config in discover():
        for name, field in config.model_fields.items():
            rows.append((verb.name, name, field.description))
            subs = {model_of(field.annotation), *nested_models(field.annotation)} - {None}
            for sub in subs:
                rows += [(verb.name, f"{name}.{n}", f.description) for n, f in sub.model_fields.items()]
    return rows


def config_classes() -> list[type[BaseModel]]:
    """Every pydantic model defined in the config modules (the augmentation ops and hint pairs included)."""
    out: dict[str, type[BaseModel]] = {}
    for mod in MODULES:
        module = importlib.import_module(f"edgevision.configs.{mod}")
        for obj in vars(module).values():
            if inspect.isclass(obj) and issubclass(obj, BaseModel) and obj.__module__ == module.__name__:
                out[obj.__qualname__] = obj
    return list(out.values())


def test_the_walk_finds_the_verbs_and_their_nested_models():
    verbs = {v.name for v, _ in discover()}
    assert {"train", "distill", "prune", "export", "faces enroll"} <= verbs
    fields = {(v, f) for v, f, _ in reachable_fields()}
    for want in [("train", "data.val_fraction"), ("train", "augment.rotate"), ("distill", "teacher_options.scale"),
                 ("distill", "hints.kind"), ("prune", "distill.temperature"), ("faces verify", "detector.cascade")]:
        assert want in fields


def test_every_field_reachable_from_a_verb_has_a_description():
    missing = sorted({f"{verb}: {name}" for verb, name, desc in reachable_fields() if not (desc or "").strip()})
    assert not missing, "fields without Field(description=...):\n  " + "\n  ".join(missing)


def test_every_field_of_every_config_class_has_a_description():
    missing = [f"{cls.__name__}.{n}" for cls in config_classes() for n, f in cls.model_fields.items()
               if not (f.description or "").strip()]
    assert not missing, "fields without Field(description=...): " + ", ".join(missing)


def test_no_description_cites_a_reference_document_by_number():
    found = [f"{cls.__name__}.{n}: {f.description}" for cls in config_classes() for n, f in cls.model_fields.items()
             if DOC_NUMBER.search(f.description or "")]
    found += [f"{cls.__name__} docstring" for cls in config_classes() if DOC_NUMBER.search(cls.__doc__ or "")]
    found += [f"{v.name} verb help" for v, _ in discover() if DOC_NUMBER.search(v.help)]
    assert not found, "cite the reference documents by author and year:\n  " + "\n  ".join(found)


def test_no_config_source_cites_a_reference_document_by_number():
    root = Path(configs.__file__).parent
    found = [f"{p.name}:{i}: {line.strip()}" for p in sorted(root.glob("*.py"))
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if DOC_NUMBER.search(line)]
    assert not found, "\n".join(found)


def _verb_parsers(parser: argparse.ArgumentParser, prefix: str = ""):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                if sub._defaults.get("verb") is not None:
                    yield f"{prefix}{name}", sub
                else:
                    yield from _verb_parsers(sub, f"{prefix}{name} ")


@pytest.mark.parametrize("verb,parser", [pytest.param(v, p, id=v) for v, p in _verb_parsers(build_parser())])
def test_every_generated_flag_says_more_than_its_default(verb, parser):
    bare = [a.option_strings[0] if a.option_strings else a.metavar for a in parser._actions
            if a.help != argparse.SUPPRESS and not isinstance(a, argparse._HelpAction)
            and (not (a.help or "").strip() or (a.help or "").lstrip().startswith("(default"))]
    assert not bare, f"edgevision {verb}: flags whose help is only a default: {', '.join(map(str, bare))}"
