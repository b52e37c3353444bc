"""A reduced-budget Optuna search over segmentation nets on Penn-Fudan: validation mIoU against measured 1-thread
onnxruntime latency, giving a Pareto front (Demborg (2018) ran 100 random-search trials with hyperopt).

Runs the packaged recipe ``pennfudan-seg-search`` (model ∈ {ENet, FastLinkNet, MobileSeg}, width multiplier, input size,
lr, dropout, loss; 8 epochs per trial) for ``--trials`` trials, writes the HTML report with the Pareto plot into
the search folder, and saves the trials' summary to ``benchmarks/results/segmentation_search.json`` plus the Pareto
plot as ``benchmarks/results/segmentation_search_pareto.png``. The study lives in SQLite inside ``--out``, so a
killed run resumes with the same command.

Usage: flock /tmp/edgevision-bench.lock .venv/bin/python benchmarks/segmentation_search.py [--trials 30]
       [--workers 1] [--threads 2] [--timeout SECONDS] [--out runs/bench/segmentation_search]
"""

from __future__ import annotations

import os

# Idle OpenMP threads sleep instead of spinning: on a shared machine spinning threads make 2-thread training
# 10-30x slower (measured); on a quiet machine the difference is negligible. Must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import base64
import json
import time
from pathlib import Path

from _common import RESULTS, require, save
from edgevision import report, search
from edgevision.report.search import pareto_plot

RECIPE = Path(__file__).resolve().parents[1] / "src" / "edgevision" / "recipes" / "pennfudan-seg-search.yaml"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=30)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2, help="torch threads per worker for training")
    ap.add_argument("--sampler", default="tpe", choices=("tpe", "random"))
    ap.add_argument("--timeout", type=float, default=None,
                    help="seconds after which no new trial starts (a reduced budget; the running trial finishes)")
    ap.add_argument("--out", default="runs/bench/segmentation_search")
    ap.add_argument("--recipe", type=Path, default=RECIPE, help="the search recipe (e.g. the -quick variant)")
    args = ap.parse_args()
    require("penn_fudan_ped")
    t0 = time.perf_counter()
    res = search(args.recipe, trials=args.trials, workers=args.workers, threads=args.threads, sampler=args.sampler,
                 out=args.out, **({"timeout": args.timeout} if args.timeout else {}))
    rep = report([args.out], out=Path(args.out) / "report.html", title="Penn-Fudan segmentation search")
    doc = json.loads((Path(args.out) / "trials.json").read_text())
    png = pareto_plot(doc).removeprefix("data:image/png;base64,")
    (RESULTS / "segmentation_search_pareto.png").write_bytes(base64.b64decode(png))
    front = [t for t in doc["trials"] if t["number"] in set(doc["front"])]
    front.sort(key=lambda t: t["values"][1])
    save("segmentation_search", {
        "description": "Optuna TPE search, val mIoU (max) vs onnxruntime 1-thread latency ms (min), Penn-Fudan",
        "recipe": str(args.recipe.resolve().relative_to(RECIPE.parents[1])), "trials_requested": args.trials,
        "workers": args.workers, "threads_per_worker": args.threads, "sampler": args.sampler,
        "timeout_s": args.timeout,
        "counts": doc["counts"], "objectives": doc["objectives"], "params": doc["params"],
        "pareto_front": [{"number": t["number"], "val_miou": t["values"][0], "latency_ms_1t": t["values"][1],
                          "params": t["params"], "seconds": t["seconds"]} for t in front],
        "importances": doc["importances"],
        "trials": [{"number": t["number"], "state": t["state"], "values": t["values"], "params": t["params"],
                    "seconds": t["seconds"]} for t in doc["trials"]],
        "report": str(rep.artifact), "search_dir": str(res.run_dir),
        "note": "latency is measured inside each trial on a shared machine: compare within this run only",
        "seconds": round(time.perf_counter() - t0, 1)})


if __name__ == "__main__":
    main()
