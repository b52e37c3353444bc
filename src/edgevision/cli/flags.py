"""Flags from a pydantic config: one per field, typed, with choices, help and default read from the field.

The rules (the same for every verb, so a new stage needs no CLI code):

- a field ``lr_mult`` becomes ``--lr-mult``; a nested model's field ``data.val_fraction`` becomes
  ``--data.val-fraction`` (one level; deeper models take a YAML value, or ``--set``);
- a nested model with a ``source`` (data, impostors) also takes ``--<name> SOURCE``; any other nested model takes
  ``--<name> YAML`` (``--distill`` alone switches an optional one on with its defaults);
- ``bool`` → ``--x / --no-x``; ``Literal`` → choices; ``list`` → comma-separated (``--layers 'conv*,fc1'``);
  ``dict`` → ``KEY=VALUE`` pairs; a number-or-mapping (``--sparsity 0.9`` or ``--sparsity fc1=0.97,conv*=0.8``);
  a shape (``--input-size 32`` or ``32x48``); numbers and anything else are read as YAML and checked by the config;
- every flag is optional and unset flags are left out, so the config's defaults stand.
"""

from __future__ import annotations

import argparse
import types
import typing
from typing import Any, Literal

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from ..errors import ConfigError

DEST = "opt:"  # argparse dest prefix of the config options (keeps them apart from --out, --json, ...)


def parse_value(text: str) -> Any:
    """A flag's text as YAML (``3`` → 3, ``[1, 2]`` → list, ``auto`` → "auto"); unparsable text stays a string."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def parse_pairs(items: list[str] | str, flag: str) -> dict[str, Any]:
    """``["width=16", "depth=3"]`` or ``"fc1=0.97,conv*=0.8"`` → a mapping; ``"{a: 1}"`` is read as YAML."""
    if isinstance(items, list) and len(items) == 1 and items[0].lstrip().startswith("{"):
        items = items[0]  # one JSON/YAML mapping
    if isinstance(items, str):
        if items.lstrip().startswith("{"):
            return _mapping(parse_value(items), flag)
        items = items.split(",")
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{flag} {item!r}: expected KEY=VALUE")
        out[key.strip()] = parse_value(value)
    return out


def _mapping(value: Any, flag: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{flag}: expected a mapping such as '{{key: value}}', got {value!r}")
    return value


def _args(tp: Any) -> tuple[Any, ...]:
    """The members of a union (``X | None`` → (X,)), without None; a plain type → (type,)."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return tuple(a for a in typing.get_args(tp) if a is not type(None))
    if typing.get_origin(tp) is typing.Annotated:
        return _args(typing.get_args(tp)[0])
    return (tp,)


def model_of(tp: Any) -> type[BaseModel] | None:
    """The pydantic model a field holds (``DataConfig | None`` → DataConfig), else None."""
    models = [a for a in _args(tp) if isinstance(a, type) and issubclass(a, BaseModel)]
    return models[0] if len(models) == 1 and len(_args(tp)) == 1 else None


def _kind(tp: Any) -> str:
    """What the flag parses: bool, choice, str, list, models, dict, scalar-or-dict, shape, or yaml."""
    members = _args(tp)
    origins = {typing.get_origin(a) for a in members}
    if members == (bool,):
        return "bool"
    if len(members) == 1 and typing.get_origin(members[0]) is Literal:
        return "choice"
    if members == (str,):
        return "str"
    if dict in origins:
        return "dict" if len(members) == 1 else "scalar-or-dict"
    if list in origins and len(members) == 1:
        inner = _args(typing.get_args(members[0])[0])
        return "models" if model_of(inner[0]) else "list"
    if tuple in origins and all(a is int or (typing.get_origin(a) is tuple and int in typing.get_args(a))
                                for a in members):
        return "shape"
    if tuple in origins and len(members) == 1:
        return "list"
    return "yaml"


BOOL_WORDS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}


def spell_switches(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """``--weights-strict false`` → ``--no-weights-strict`` (and ``--x true`` → ``--x``) for the on/off flags of
    ``parser`` and its sub-commands, so a switch also takes an explicit value; other tokens stay as they are."""
    switches = _switches(parser)
    out: list[str] = []
    for i, tok in enumerate(argv):
        prev = argv[i - 1] if i else ""
        if prev in switches and tok.lower() in BOOL_WORDS and out and out[-1] == prev:
            out[-1] = prev if BOOL_WORDS[tok.lower()] else "--no-" + prev[2:]
            continue
        out.append(tok)
    return out


def _switches(parser: argparse.ArgumentParser) -> set[str]:
    found: set[str] = set()
    for action in parser._actions:
        if isinstance(action, argparse.BooleanOptionalAction):
            found.update(o for o in action.option_strings if not o.startswith("--no-"))
        for sub in getattr(action, "choices", None) or {}:
            if isinstance(action.choices, dict) and isinstance(action.choices[sub], argparse.ArgumentParser):
                found |= _switches(action.choices[sub])
    return found


class Pairs(argparse.Action):
    """``--model-kwargs width=16 depth=3`` → ``{"width": 16, "depth": 3}``."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        setattr(namespace, self.dest, parse_pairs(list(values or []), option_string or self.dest))


def _shape(text: str) -> Any:
    parts = text.lower().replace("×", "x").replace(",", "x").split("x")
    try:
        dims = [int(p) for p in parts]
    except ValueError:
        raise ConfigError(f"expected a size such as 32 or 32x48, got {text!r}") from None
    return dims[0] if len(dims) == 1 else dims


def _list(tp: Any) -> Any:
    inner = _args(typing.get_args(_args(tp)[0])[0])
    as_text = inner == (str,) or (typing.get_origin(inner[0]) is Literal and all(
        isinstance(v, str) for v in typing.get_args(inner[0])))
    return lambda s: [t.strip() if as_text else parse_value(t.strip()) for t in s.split(",") if t.strip()]


def default_text(field: FieldInfo) -> str:
    """The field's default for the help text ('' when None or empty)."""
    if field.is_required():
        return ""
    value = field.get_default(call_default_factory=True)
    if value is None or value in ([], {}, ()) or isinstance(value, BaseModel):
        return ""
    if isinstance(value, list | tuple):
        value = ",".join(str(v) for v in value)
    return f" (default: {value})"


def help_text(field: FieldInfo) -> str:
    """``Field.description`` plus the default, escaped for argparse."""
    return ((field.description or "") + default_text(field)).strip().replace("%", "%%")


def flag_kwargs(tp: Any, flag: str, field: FieldInfo) -> dict[str, Any]:
    """argparse keywords for a field of type ``tp`` shown as ``flag``."""
    kind = _kind(tp)
    kw: dict[str, Any] = {"help": help_text(field), "default": None}
    if kind == "str":
        kw["metavar"] = flag.rsplit(".", 1)[-1].lstrip("-").replace("-", "_").upper()
    if kind == "bool":
        kw["action"] = argparse.BooleanOptionalAction
    elif kind == "choice":
        values = typing.get_args(_args(tp)[0])
        kw.update(choices=list(values), type=type(values[0]), metavar="{" + ",".join(map(str, values)) + "}")
    elif kind == "list":
        kw.update(type=_list(tp), metavar="A,B,...")
    elif kind == "models":
        kw.update(action="append", type=lambda s: parse_value(s) if s.lstrip().startswith("{") else s)
    elif kind == "dict":
        kw.update(nargs="*", metavar="KEY=VALUE", action=Pairs)
    elif kind == "scalar-or-dict":
        kw.update(type=lambda s: parse_pairs(s, flag) if "=" in s else parse_value(s), metavar="X|GLOB=X,...")
    elif kind == "shape":
        kw.update(type=_shape, metavar="HxW")
    elif kind == "yaml":
        kw.update(type=parse_value, metavar=_metavar(tp))
    return kw


def _metavar(tp: Any) -> str:
    members = _args(tp)
    return {(int,): "N", (float,): "X"}.get(members, "VALUE")
