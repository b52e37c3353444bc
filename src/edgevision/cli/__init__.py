"""``edgevision <verb>``: argument parsing only; every verb calls the public function of the same name.

User errors print one line to stderr and exit 2 (no traceback unless ``--debug``); an interrupted run exits 130
and can be resumed.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

from .._version import __version__
from ..errors import EdgevisionError
from ..utils.text import one_line, strip_ansi
from . import apps, compress, core, detect, distill, faces, search, speed

VERB_MODULES = [core, distill, compress, speed, detect, search, faces, apps]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edgevision", description="Make vision models small and fast, and prove it.",
                                     epilog="run `edgevision <verb> --help` for a verb's options and an example")
    parser.add_argument("--version", action="version", version=f"edgevision {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="verb", metavar="<verb>")
    for mod in VERB_MODULES:
        for add in mod.PARSERS:
            add(sub)
    for p in sub.choices.values():
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.verb:
        parser.print_help()
        return 2
    debug = args.debug or os.environ.get("EDGEVISION_DEBUG") == "1"
    try:
        import edgevision  # noqa: F401  (registers every stage, task, format and loader)

        args.func(args)
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
        first = strip_ansi(str(e)).strip().splitlines()[0] if str(e).strip() else ""
        print(f"internal error: {type(e).__name__}: {one_line(first)[:300]} (rerun with --debug for the traceback)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
