"""COCO128 smoke run: multi-class SqueezeDet training and evaluation end to end (80 COCO classes, 128 images).

Not an accuracy benchmark — 128 images and a few epochs from scratch cannot detect 80 classes — but proof that
the multi-class path works: the YOLO-txt and COCO-JSON readers give the same boxes, k-means anchors, the loss with
its class term, decode, per-class AP over the classes present, and the ``eval`` AP table. Trains on the YOLO
labels, evaluates the same weights through the COCO-JSON reader, and reports both.

``--model afdet_resnet`` (or another AFDet) trains the anchor-free detector instead, with cosine decay and an EMA
of the weights, and writes ``coco128_smoke_<model>.json``. ``--recipe pennfudan-detection-afdet`` trains with that
packaged recipe's train stage instead (its model, optimizer, schedule, EMA, assignment, augmentations with mosaic,
letterbox) on COCO128's 80 classes, and writes ``coco128_detection.json`` with per-class AP: the detection recipe
on a multi-class set at a stated budget (``--epochs``).

Usage: python benchmarks/coco128_smoke.py [--epochs 6] [--size 256] [--threads 1] [--model squeezedet_small]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from _common import require, save
from edgevision.train.evaluate import evaluate
from edgevision.train.stage import train
from pennfudan_detection import recipe_train_options


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--work")
    ap.add_argument("--model", default="squeezedet_small")
    ap.add_argument("--recipe", help="a packaged detection recipe whose train stage is used (data swapped for COCO128)")
    args = ap.parse_args()
    require("coco128")
    torch.set_num_threads(args.threads)
    work = Path(args.work or tempfile.mkdtemp(prefix="ev-coco128-"))
    t0 = time.perf_counter()
    data = {"source": "yolo:coco128", "input_size": args.size, "val_fraction": 0.1, "test_fraction": 0.15}
    points = args.model.startswith("afdet")
    extra = {"schedule": "cosine", "ema": 0.99, "ema_tau": 100} if points else {}
    if args.recipe:
        opts = recipe_train_options(args.recipe)
        data = {**data, **{k: v for k, v in opts.pop("data").items() if k == "resize"}}
        res = train(out=work / "train", **{**opts, "data": data, "epochs": args.epochs, "threads": args.threads})
    else:
        res = train(out=work / "train", model=args.model, task="detection", data=data, epochs=args.epochs,
                    batch_size=16, optimizer="adamw", lr=0.003, warmup_epochs=1,
                    task_options={"anchors": 9, "match_iou": 0.5},
                    augment={"hflip": 0.5, "contrast": {"p": 0.5, "range": [0.7, 1.3]}}, **extra)
    train_s = time.perf_counter() - t0
    yolo_test = json.loads((res.run_dir / "eval.json").read_text())
    ev = evaluate(res.artifact, out=work / "eval-coco-json", data={**data, "source": "coco:coco128"})
    coco_test = json.loads((ev.run_dir / "eval.json").read_text())
    hist = [json.loads(x) for x in (res.run_dir / "metrics.jsonl").read_text().splitlines()]
    model = opts["model"] if args.recipe else args.model
    result = {"model": model, "recipe": args.recipe, "epochs": args.epochs, "input": args.size, "classes": 80,
              "classes_in_test": len(yolo_test["per_class"]), "test_images": yolo_test["n_images"],
              "test_ap50_yolo_labels": yolo_test["ap50"], "test_map_yolo_labels": yolo_test["map"],
              "test_ap50_coco_json": coco_test["ap50"], "test_map_coco_json": coco_test["map"],
              "train_loss_first_last": [hist[0]["train_loss"], hist[-1]["train_loss"]],
              "train_loss_class_first_last": [hist[0]["train_loss_class"], hist[-1]["train_loss_class"]],
              "per_class_test": yolo_test["per_class"], "train_seconds": round(train_s, 1), "threads": args.threads,
              "note": "smoke run: proves multi-class training and evaluation end to end; accuracy is not the point"}
    if args.recipe:
        result["note"] = f"the {args.recipe} recipe's train stage on COCO128 at {args.epochs} epochs, from scratch"
    save("coco128_detection" if args.recipe else
         "coco128_smoke" if args.model == "squeezedet_small" else f"coco128_smoke_{args.model}", result)
    print({k: v for k, v in result.items() if k != "per_class_test"})


if __name__ == "__main__":
    main()
