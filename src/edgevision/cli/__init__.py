"""``edgevision <verb>``: the command line, generated from the stage configs (:mod:`.verbs`, :mod:`.flags`).

Each verb calls the public function of the same name with its options. Options merge as: ``--config`` file <
flags < ``--set key=value``. User errors print one line to stderr and exit 2 (no traceback unless ``--debug``); an
interrupted run exits 130 and can be resumed. Nothing here imports torch: ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from typing import Any

from .._version import __version__ as __version__
from ..config import load_yaml, validate
from ..errors import ConfigError, EdgevisionError
from ..utils.text import one_line, strip_ansi
from .flags import DEST, parse_value, spell_switches
from .output import resolve, show
from .verbs import build_parser


def set_dotted(d: dict[str, Any], key: str, value: Any) -> None:
    """``set_dotted(d, "data.source", "mnist")`` → ``d["data"]["source"] = "mnist"``."""
    parts = key.split(".")
    for p in parts[:-1]:
        nxt = d.setdefault(p, {})
        if not isinstance(nxt, dict):
            raise ConfigError(f"--set {key}: {p!r} is not a mapping")
        d = nxt
    d[parts[-1]] = value


def options(args: argparse.Namespace) -> dict[str, Any]:
    """Merge the ``--config`` file < explicit flags < ``--set`` overrides into one options mapping."""
    opts: dict[str, Any] = {}
    if args.config:
        loaded = load_yaml(args.config)
        if not isinstance(loaded, dict):
            raise ConfigError(f"{args.config}: expected a mapping of options")
        opts.update(loaded)
    flags = {k[len(DEST):]: v for k, v in vars(args).items() if k.startswith(DEST) and v is not None}
    for key in sorted(flags, key=lambda k: k.count(".")):  # a whole mapping first, then its dotted keys
        set_dotted(opts, key, flags[key])
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE")
        set_dotted(opts, key.strip(), parse_value(value))
    return opts


def run_verb(args: argparse.Namespace) -> None:
    verb, opts = args.verb, options(args)
    if not opts.get("resume"):  # a resumed run takes its saved options first, so only the stage can check them
        validate(args.config_cls, opts, prefix=verb.name)
    if verb.out and args.out:
        opts["out"] = args.out
    show(verb, resolve(verb.call)(**opts), args.json)


def main(argv: list[str] | None = None) -> int:
    debug = os.environ.get("EDGEVISION_DEBUG") == "1" or "--debug" in (sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser()
        args = parser.parse_args(spell_switches(parser, sys.argv[1:] if argv is None else list(argv)))
        if not getattr(args, "verb", None):
            build_parser().print_help()
            return 2
        run_verb(args)
        return 0
    except EdgevisionError as e:
        if debug:
            traceback.print_exc()
        print(f"error: {one_line(str(e))}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted: rerun with --resume (or the same `edgevision run`) to continue", file=sys.stderr)
        return 130
    except Exception as e:
        if debug:
            traceback.print_exc()
        lines = [ln for ln in strip_ansi(str(e)).strip().splitlines() if ln.strip()]
        print(f"internal error: {type(e).__name__}: {one_line(lines[-1])[:300] if lines else ''} (rerun with --debug "
              f"for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
