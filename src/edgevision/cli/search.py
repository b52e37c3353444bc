"""``edgevision search``: a hyper-parameter search over a recipe's ``search:`` section."""

from __future__ import annotations

import argparse

from .common import add_common, emit_json, options, parser_kwargs


def add_search(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", **parser_kwargs(
        "hyper-parameter search over any recipe keys (Optuna): best trial or Pareto front, pruning, and workers "
        "sharing one study across processes or machines",
        "edgevision search recipes/pennfudan-seg-search.yaml --trials 30 --storage sqlite:///study.db "
        "--sampler tpe --workers 2 --out runs/search"))
    p.add_argument("recipe", help="recipe YAML with a search: section")
    p.add_argument("--trials", type=int, help="total finished trials in the study (resumes / joins up to this)")
    p.add_argument("--storage", help="sqlite:///study.db, postgresql://user:pw@host/db or journal:///shared/x.log "
                                     "(default: sqlite in --out); the same storage on several machines = one study")
    p.add_argument("--sampler", choices=("tpe", "random"))
    p.add_argument("--study", help="study name (default: the recipe's name)")
    p.add_argument("--seed", type=int)
    p.add_argument("--workers", type=int, help="worker processes on this machine (default 1)")
    p.add_argument("--threads", type=int, help="torch threads per worker (default: cores / workers)")
    p.add_argument("--timeout", type=float, help="stop this machine's workers after this many seconds")
    p.add_argument("--verbose", action="store_true", default=None, help="show each trial's training output")
    add_common(p)
    p.set_defaults(func=cmd_search)


def cmd_search(args: argparse.Namespace) -> None:
    from ..search import search

    flags = {"trials": args.trials, "storage": args.storage, "sampler": args.sampler, "study": args.study,
             "seed": args.seed, "workers": args.workers, "threads": args.threads, "timeout": args.timeout,
             "verbose": args.verbose}
    res = search(args.recipe, out=args.out, **options(args, flags))
    if args.json:
        emit_json(res.card)
        return
    m = res.card.get("metrics", {})
    best = m.get("best") or {}
    print(f"{m.get('complete', 0)} complete, {m.get('pruned', 0)} pruned, {m.get('fail', 0)} failed trials; "
          f"best trial {best.get('number')} {best.get('values')}; trials in {res.run_dir / 'trials.json'}")


PARSERS = [add_search]
