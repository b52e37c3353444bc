"""Which piece of the detection recipe buys what: the same detector on Penn-Fudan, one piece added per row.

Trains the ``train`` stage of the packaged recipe ``pennfudan-detection`` (``squeezedet_small`` at 256², the fixed
100-image training split; helpers from ``pennfudan_detection.py``) at a fixed modest budget (``--epochs``, default
20), each row adding one piece to the row before it:

    baseline → +ema (Polyak averaging of the weights) → +mosaic (Bochkovskiy et al. 2020) → +mixup (Zhang et al.
    2018) → +letterbox (aspect-preserving resize) → +close_mosaic (no mosaic/mixup in the last quarter of the epochs)

With ``--recipe pennfudan-detection-afdet`` the baseline is the AFDet recipe (EMA included) and the rows are
baseline → +mosaic → +close_mosaic (the last tenth of the epochs) → +letterbox, for long budgets (``--epochs 100``).

Plus, with ``--rows``, ``afdet_on_ema``: the +ema row with the anchor-free AFDet head and its task-aligned
assignment, CIoU and DFL (the model and task options of the ``pennfudan-detection-afdet`` recipe) instead of
SqueezeDet; and ``yolo11n_afdet_recipe``: ultralytics' YOLO11n architecture (``ultralytics:yolo11n.yaml``, the zoo
venv with ``make install-peer``) trained by the whole ``pennfudan-detection-afdet`` recipe at ``--epochs``.

and scores every row on the same 50 held-out test images like ``edgevision eval`` (top 300 before NMS, scores ≥
0.01): AP50 (VOC all-point), COCO AP@[.5:.95], AP75; ``val_ap50`` is the best epoch's AP50 on the 20 validation
images, the number a recipe choice is made on. ``train_cpu_s`` is the process CPU time of the row's training
(one torch thread, so CPU seconds ≈ wall seconds on a quiet core). Rows are cumulative, so a row's gain is over the
row above it; one seed per row, so differences of a few AP points are within noise at this budget.

Writes ``benchmarks/results/detection_ablation.json``. Runs live in ``--work`` (default
``~/.cache/edgevision/bench/detection_ablation``) and are reused when complete.

Usage: flock /tmp/edgevision-bench.lock python benchmarks/detection_ablation.py [--epochs 20] [--rows baseline,ema]
       [--name detection_ablation]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import torch

from _common import require, save
from edgevision.data.detection import cache_dir
from edgevision.train.evaluate import evaluate
from edgevision.train.stage import train
from edgevision.utils.io import write_json
from pennfudan_detection import recipe_train_options

EMA = {"ema": 0.99, "ema_tau": 50}  # few optimizer steps at this budget (12 per epoch): a short average
MOSAIC = {"p": 1.0, "scale": 0.5, "translate": 0.1}
MIXUP = {"p": 0.15, "alpha": 32.0}
EXTRA_ROWS = ("afdet_on_ema", "yolo11n_afdet_recipe")  # not cumulative: run with --rows


def _with(opts: dict[str, Any], augment: dict[str, Any] | None = None, data: dict[str, Any] | None = None,
          **train: Any) -> dict[str, Any]:
    return {**opts, **train, "augment": {**opts.get("augment", {}), **(augment or {})},
            "data": {**opts["data"], **(data or {})}}


def afdet_rows(base: dict[str, Any], epochs: int) -> dict[str, dict[str, Any]]:
    """The cumulative rows on the AFDet recipe (which has its EMA already; its baseline without the recipe's mosaic
    and letterbox): baseline → +mosaic → +close_mosaic → +letterbox (mixup, the piece that cost most on SqueezeDet,
    is left out)."""
    mixing = ("mosaic", "mixup", "close_mosaic")  # the recipe's own mixing is what the rows add back one by one
    out = {"baseline": {**base, "augment": {k: v for k, v in base.get("augment", {}).items() if k not in mixing},
                        "data": {k: v for k, v in base["data"].items() if k != "resize"}}}
    out["mosaic"] = _with(out["baseline"], {"mosaic": MOSAIC})
    out["close_mosaic"] = _with(out["mosaic"], {"close_mosaic": max(1, epochs // 10)})
    out["letterbox"] = _with(out["close_mosaic"], data={"resize": "letterbox"})
    return out


def rows(base: dict[str, Any], epochs: int) -> dict[str, dict[str, Any]]:
    """The cumulative rows: name → train options."""
    out = {"baseline": base}
    out["ema"] = _with(out["baseline"], **EMA)
    out["mosaic"] = _with(out["ema"], {"mosaic": MOSAIC})
    out["mixup"] = _with(out["mosaic"], {"mixup": MIXUP})
    out["letterbox"] = _with(out["mixup"], data={"resize": "letterbox"})
    out["close_mosaic"] = _with(out["letterbox"], {"close_mosaic": max(1, epochs // 4)})
    afdet = recipe_train_options("pennfudan-detection-afdet")  # the anchor-free head, swapped into the +ema row
    # afdet_mobilenet, the model this row was measured with (the AFDet recipe has since moved to afdet_resnet)
    out["afdet_on_ema"] = {**out["ema"], "model": "afdet_mobilenet", "task_options": afdet["task_options"]}
    # ultralytics' YOLO11n architecture (its Detect head is a points head) trained by the AFDet recipe, so the
    # architecture and the training recipe can be told apart against benchmarks/yolo_peer.py (ultralytics' own)
    out["yolo11n_afdet_recipe"] = {**afdet, "model": "ultralytics:yolo11n.yaml", "epochs": epochs, "threads": 1}
    return out


def run_row(name: str, opts: dict[str, Any], work: Path) -> dict[str, Any]:
    """Train one row (or reuse its finished run) and score it on the test split."""
    cpu_file = work / f"{name}-train_cpu_s.json"  # kept beside the run: a reused run keeps its measured time
    cpu0 = time.process_time()
    res = train(out=work / name, resume=True, **opts)
    if not cpu_file.exists():  # atomic: an interrupted write leaves no file, and the next run measures again
        write_json(cpu_file, round(time.process_time() - cpu0, 1))
    cpu = json.loads(cpu_file.read_text())
    history = [json.loads(x) for x in (res.run_dir / "metrics.jsonl").read_text().splitlines()]
    ev = evaluate(res.artifact, out=work / f"{name}-eval", split="test")
    test = json.loads((ev.run_dir / "eval.json").read_text())
    train_s = round(sum(r.get("time_s", 0) for r in history), 1)
    return {"row": name, "val_ap50": res.metrics.get("val", {}).get("ap50"), "ap50": test["ap50"],
            "coco_map": test["map"], "ap75": test["map75"],
            "train_cpu_s": cpu, "train_wall_s": train_s,
            "best_epoch": res.metrics.get("best_epoch"), "augment": opts.get("augment"), "data": opts["data"],
            "ema": opts.get("ema", 0), "model": opts["model"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=20, help="epochs of every row (the recipe trains 40)")
    ap.add_argument("--rows", help="comma-separated subset of the rows (default: all)")
    ap.add_argument("--recipe", default="pennfudan-detection", choices=["pennfudan-detection",
                    "pennfudan-detection-afdet"], help="the recipe whose train stage is the baseline row")
    ap.add_argument("--work", default=str(cache_dir() / "bench" / "detection_ablation"))
    ap.add_argument("--name", default="detection_ablation", help="results file benchmarks/results/NAME.json (rows "
                    "trained by several processes are collected by a last run without --rows: finished runs are "
                    "reused with their measured CPU time)")
    args = ap.parse_args()
    require("penn_fudan_ped")
    torch.set_num_threads(1)
    base = {**recipe_train_options(args.recipe), "epochs": args.epochs, "threads": 1}
    afdet = args.recipe == "pennfudan-detection-afdet"
    table = (afdet_rows if afdet else rows)(base, args.epochs)
    wanted = args.rows.split(",") if args.rows else [r for r in table if r not in EXTRA_ROWS]
    work = Path(args.work) / (f"afdet-e{args.epochs}" if afdet else f"e{args.epochs}")
    results = []
    for name in wanted:
        r = run_row(name, table[name], work)
        results.append(r)
        print({k: r[k] for k in ("row", "ap50", "coco_map", "ap75", "train_cpu_s", "train_wall_s")}, flush=True)
    out = {"rows": results, "recipe": args.recipe, "epochs": args.epochs, "model": base["model"],
           "input": base["data"]["input_size"],
           "train_images": 100, "test_images": 50, "train_threads": 1, "seed": base.get("seed", 0),
           "budget": f"{args.epochs} epochs per row, one torch thread",
           "cumulative": True, "ema": EMA, "mosaic": MOSAIC, "mixup": MIXUP,
           "load_avg_1_5_15_at_save": [round(v, 2) for v in os.getloadavg()],
           "note": "CPU seconds are process CPU time of one torch thread (robust to a shared machine's load); wall "
                   "seconds are the epochs' time_s sum and grow with the load"}
    save(args.name, out)


if __name__ == "__main__":
    main()
