"""Shared CLI helpers: option files, ``--set key=value`` overrides, fine-tuning flags, lists, JSON output."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import yaml

from ..config import load_yaml
from ..errors import ConfigError
from ..utils.io import to_jsonable
from ..utils.shapes import parse_shape


def parser_kwargs(help_text: str, example: str) -> dict[str, Any]:
    return {"help": help_text, "description": help_text, "epilog": f"example:\n  {example}",
            "formatter_class": argparse.RawDescriptionHelpFormatter}


def add_common(p: argparse.ArgumentParser, json_flag: bool = True, out: bool = True) -> None:
    if out:
        p.add_argument("--out", help="output folder (default: runs/<verb>-<name>-<time>)")
    if json_flag:
        p.add_argument("--json", action="store_true", help="print machine-readable JSON to stdout")
    p.add_argument("--config", metavar="YAML", help="read options from a YAML mapping (flags override it)")
    p.add_argument("--set", metavar="KEY=VALUE", action="append", default=[],
                   help="set any option, dotted for nesting (e.g. --set data.options.n_train=500); repeatable")


def add_finetune(p: argparse.ArgumentParser, epochs_help: str = "fine-tuning epochs (0 = none)",
                 seed: bool = False) -> None:
    """The fine-tuning flags every compression verb shares (read back by :func:`finetune_opts`)."""
    p.add_argument("--data", help="data source (default: the one the model was trained on)")
    p.add_argument("--epochs", type=int, help=epochs_help)
    p.add_argument("--lr", type=float)
    p.add_argument("--optimizer", help="sgd, adam or adamw")
    p.add_argument("--batch-size", type=int)
    if seed:
        p.add_argument("--seed", type=int)
    add_threads(p)
    add_run_flags(p)


def add_threads(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=int, help="torch and OpenCV threads while it computes (default: one per core)")


def add_run_flags(p: argparse.ArgumentParser, resume_help: str = "continue an interrupted run in --out") -> None:
    """``--resume`` and ``--overwrite``: what to do when --out already holds a run (see ``runs.claim``)."""
    p.add_argument("--resume", action="store_true", default=None, help=resume_help)
    p.add_argument("--overwrite", action="store_true", default=None,
                   help="start over: move the run already in --out aside to <out>.old-<time>")


def finetune_opts(args: argparse.Namespace) -> dict[str, Any]:
    """The options of :func:`add_finetune`'s flags; unset flags are ``None`` and leave the defaults alone."""
    return {"data.source": args.data, "epochs": args.epochs, "lr": args.lr, "optimizer": args.optimizer,
            "batch_size": args.batch_size, "seed": getattr(args, "seed", None), "resume": args.resume,
            "overwrite": args.overwrite, "threads": args.threads}


def csv(text: str | None, cast: type = str) -> list | None:
    """``"a, b,"`` → ``["a", "b"]``; ``None`` or empty → ``None``."""
    return [cast(t.strip()) for t in text.split(",") if t.strip()] if text else None


def parse_value(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def set_dotted(d: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    for p in parts[:-1]:
        nxt = d.setdefault(p, {})
        if not isinstance(nxt, dict):
            raise ConfigError(f"--set {key}: {p!r} is not a mapping")
        d = nxt
    d[parts[-1]] = value


def options(args: argparse.Namespace, flags: dict[str, Any]) -> dict[str, Any]:
    """Merge ``--config`` file < explicit flags (non-None) < ``--set`` overrides."""
    opts: dict[str, Any] = {}
    if getattr(args, "config", None):
        loaded = load_yaml(args.config)
        if not isinstance(loaded, dict):
            raise ConfigError(f"{args.config}: expected a mapping of options")
        opts.update(loaded)
    for key, value in flags.items():
        if value is not None:
            set_dotted(opts, key, value)
    for item in getattr(args, "set", []) or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE")
        set_dotted(opts, key.strip(), parse_value(value))
    return opts


def kv_list(items: list[str] | None, what: str) -> dict[str, Any] | None:
    """``["width=16", "depth=3"]`` → ``{"width": 16, "depth": 3}``."""
    if not items:
        return None
    out = {}
    for item in items:
        k, sep, v = item.partition("=")
        if not sep:
            raise ConfigError(f"{what} {item!r}: expected KEY=VALUE")
        out[k] = parse_value(v)
    return out


def input_size(text: str | None) -> int | list[int] | None:
    if text is None:
        return None
    dims = parse_shape(text, (1, 2), what="--input-size")
    return dims[0] if len(dims) == 1 else list(dims)


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(to_jsonable(obj), indent=2) + "\n")
