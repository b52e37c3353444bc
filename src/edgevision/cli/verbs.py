"""The verbs: every config in :mod:`edgevision.configs` that carries a ``cli`` becomes ``edgevision <name>``."""

from __future__ import annotations

import argparse
import importlib
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from .._version import __version__
from ..configs import MODULES
from ..configs.verb import DATA_ALIASES, Verb
from ..errors import EdgevisionError
from .flags import DEST, _kind, flag_kwargs, help_text, model_of, parse_value


class CLIError(EdgevisionError):
    """A malformed command line (unknown flag, missing argument, bad choice)."""


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (an :class:`EdgevisionError`, so the CLI prints ``error: ...`` and exits 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise CLIError(f"{self.prog}: {message} (see `{self.prog} --help`)")


def discover() -> list[tuple[Verb, type[BaseModel]]]:
    """Every (verb, config) pair of the config modules, in module order."""
    found: dict[str, tuple[Verb, type[BaseModel]]] = {}
    for mod in MODULES:
        for obj in vars(importlib.import_module(f"edgevision.configs.{mod}")).values():
            if isinstance(obj, type) and issubclass(obj, BaseModel) and isinstance(obj.__dict__.get("cli"), Verb):
                found.setdefault(obj.cli.name, (obj.cli, obj))
    return list(found.values())


def field_at(config: type[BaseModel], dotted: str) -> FieldInfo | None:
    """The field behind ``a.b`` (one level of nesting), or None."""
    head, _, rest = dotted.partition(".")
    field = config.model_fields.get(head)
    if field is None or not rest:
        return field
    sub = model_of(field.annotation)
    return sub.model_fields.get(rest) if sub is not None else None


def add_positional(p: argparse.ArgumentParser, name: str, field: FieldInfo) -> None:
    kind, required = _kind(field.annotation), field.is_required()
    dest = DEST + name + (".source" if model_of(field.annotation) else "")
    if kind in ("list", "models"):
        p.add_argument(dest, metavar=name, nargs="+" if required else "*", help=help_text(field))
    else:
        p.add_argument(dest, metavar=name, nargs=None if required else "?", default=None, help=help_text(field),
                       type=None if kind == "str" or model_of(field.annotation) else parse_value)


def add_fields(p: argparse.ArgumentParser, group: Any, config: type[BaseModel], skip: tuple[str, ...],
               prefix: str = "") -> None:
    """One flag per field of ``config``; a nested model's fields get their own group (one level deep)."""
    for name, field in config.model_fields.items():
        flag, dest = "--" + (prefix + name).replace("_", "-"), DEST + prefix + name
        sub = model_of(field.annotation) if not prefix else None
        if name in skip:  # a positional; a positional data source still takes its other keys as flags
            if sub is not None:
                add_fields(p, p.add_argument_group(f"{name} options (--{name}.KEY)"), sub, ("source",), name + ".")
            continue
        if sub is None:
            group.add_argument(flag, dest=dest, required=field.is_required(), **flag_kwargs(field.annotation, flag,
                                                                                            field))
            continue
        if "source" in sub.model_fields:
            group.add_argument(flag, dest=dest + ".source", metavar="SOURCE", help=help_text(sub.model_fields[
                "source"]) + (f"; {field.description}" if field.description else ""))
        else:
            group.add_argument(flag, dest=dest, type=parse_value, nargs="?", const={}, metavar="YAML",
                               help=(field.description or f"{name} options as a YAML mapping") + " (alone: the "
                               "defaults)")
        add_fields(p, p.add_argument_group(f"{name} options (--{name}.KEY)"), sub, (), prefix=name + ".")


def add_aliases(p: argparse.ArgumentParser, config: type[BaseModel], aliases: tuple[tuple[str, str], ...]) -> None:
    """Extra spellings: ``("--keep", "keep_ratios")``, and ``!field`` for a flag that turns a bool off."""
    group = p.add_argument_group("aliases")
    for flag, target in aliases:
        negate, target = target.startswith("!"), target.lstrip("!")
        field = field_at(config, target)
        if flag in p._option_string_actions or field is None:
            continue
        if negate:
            group.add_argument(flag, dest=DEST + target, action="store_false", default=None,
                               help=f"same as --no-{target.replace('_', '-')}")
        else:
            kw = flag_kwargs(field.annotation, flag, field)
            group.add_argument(flag, dest=DEST + target, **{**kw, "help": f"same as --{target.replace('_', '-')}"})


def add_common(p: argparse.ArgumentParser, verb: Verb) -> None:
    if verb.out:
        p.add_argument("--out", help="output folder (default: runs/<verb>-<name>-<time>)")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON to stdout")
    p.add_argument("--config", metavar="YAML", help="read options from a YAML mapping (flags override it)")
    p.add_argument("--set", metavar="KEY=VALUE", action="append", default=[],
                   help="set any option, dotted for nesting (e.g. --set data.options.n_train=500); repeatable")
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")


def add_verb(sub: argparse._SubParsersAction, leaf: str, verb: Verb, config: type[BaseModel]) -> None:
    examples = "\n".join(f"  {e}" for e in verb.examples)
    text = verb.help.replace("%", "%%")
    p = sub.add_parser(leaf, allow_abbrev=False, help=text, description=text,
                       epilog=f"example:\n{examples}" if examples else None,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    for name in verb.args:
        add_positional(p, name, config.model_fields[name])
    add_fields(p, p.add_argument_group(f"{verb.name} options"), config, verb.args)
    data_aliases = DATA_ALIASES[1:] if "data" in verb.args else DATA_ALIASES if "data" in config.model_fields else ()
    add_aliases(p, config, verb.aliases + data_aliases)
    add_common(p, verb)
    p.set_defaults(verb=verb, config_cls=config)


def build_parser(version: str = __version__) -> argparse.ArgumentParser:
    parser = Parser(prog="edgevision", allow_abbrev=False,
                    description="Make vision models small and fast, and prove it.",
                    epilog="run `edgevision <verb> --help` for a verb's options and an example")
    parser.add_argument("--version", action="version", version=f"edgevision {version}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="verb_name", metavar="<verb>", parser_class=Parser)
    groups: dict[str, argparse._SubParsersAction] = {}
    found = discover()
    for verb, config in found:
        head, _, leaf = verb.name.partition(" ")
        if leaf and head not in groups:
            actions = ", ".join(v.name.split()[1] for v, _ in found if v.name.startswith(head + " "))
            examples = "\n".join(f"  {e}" for v, _ in found if v.name.startswith(head + " ") for e in v.examples)
            g = sub.add_parser(head, help=f"{head}: {actions}", description=f"edgevision {head} <action>: {actions}",
                               epilog=f"example:\n{examples}", formatter_class=argparse.RawDescriptionHelpFormatter)
            groups[head] = g.add_subparsers(dest=f"{head}_verb", metavar="<action>", required=True,
                                            parser_class=Parser)
        add_verb(groups[head] if leaf else sub, leaf or head, verb, config)
    return parser
