"""The ``anchors`` stage: k-means anchor shapes for SqueezeDet from a dataset's ground-truth boxes.

OpenCV GSoC 2017 (after YOLO9000): cluster the (w, h) of the training boxes, at the network's input size, into K
shapes with d = 1 − IoU; report each anchor and the mean IoU of the boxes with their best anchor. ``edgevision
train --task detection`` runs the same clustering itself unless ``task_options.anchors`` lists shapes — for
example the ones this stage saved.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..config import dump
from ..configs.train import AnchorsConfig
from ..data import load_data
from ..data.detection import dataset_boxes
from ..errors import DataError
from ..ops.anchors import kmeans_anchors, shape_iou
from ..runs import RunDir, make_card
from ..stages import StageResult, run_stage, stage
from ..utils.io import write_json
from ..utils.progress import console
from ..utils.shapes import parse_shape


def anchor_table(anchors: np.ndarray, wh: np.ndarray) -> list[dict[str, float]]:
    """Per anchor: its (w, h), aspect h/w, how many boxes it is best for, and their mean IoU with it."""
    iou = shape_iou(wh, anchors)
    best = iou.argmax(1)
    rows = []
    for k, (w, h) in enumerate(anchors):
        mine = best == k
        rows.append({"w": round(float(w), 2), "h": round(float(h), 2), "aspect": round(float(h / w), 3),
                     "boxes": int(mine.sum()), "mean_iou": round(float(iou[mine, k].mean()), 4) if mine.any() else 0.0})
    return rows


@stage("anchors", AnchorsConfig, summary="k-means anchor shapes (1 − IoU distance) from a dataset's boxes")
def run_anchors(cfg: AnchorsConfig, out: Path) -> StageResult:
    data = cfg.data
    if cfg.input_size:
        h, w = parse_shape(cfg.input_size, 2, what="input_size")
        data = data.model_copy(update={"input_size": (h, w)})
    splits = load_data(data, "detection")
    boxes = dataset_boxes(splits.split(cfg.split))
    wh = np.concatenate([b[:, 2:] - b[:, :2] for b in boxes] or [np.zeros((0, 2), np.float32)])
    if len(wh) == 0:
        raise DataError(f"{splits.source}: the {cfg.split} split has no boxes to cluster")
    anchors, miou = kmeans_anchors(wh, cfg.k, seed=cfg.seed)
    rows = anchor_table(anchors, wh)
    res = {"anchors": [[r["w"], r["h"]] for r in rows], "mean_iou": round(miou, 4), "k": len(anchors),
           "input_size": list(splits.input_size), "n_boxes": len(wh), "source": splits.source, "split": cfg.split,
           "table": rows}
    run = RunDir(out).mkdir()
    run.write_config(dump(cfg))
    write_json(run.path / "anchors.json", res)
    run.write_card(make_card("anchors", metrics={"mean_iou": res["mean_iou"], "k": res["k"], "n_boxes": len(wh)},
                             data=data.model_dump(mode="json"), anchors=res["anchors"]))
    console.print(format_anchors(res), highlight=False)
    return StageResult(run.path, run.path / "anchors.json", run.card())


def format_anchors(res: dict[str, Any]) -> str:
    h, w = res["input_size"]
    lines = [f"{res['k']} anchors from {res['n_boxes']} boxes of {res['source']} ({res['split']}) at {h}x{w}:",
             f"{'#':>3}{'w':>9}{'h':>9}{'h/w':>7}{'boxes':>7}{'IoU':>8}"]
    for i, r in enumerate(res["table"]):
        lines.append(f"{i:>3}{r['w']:>9.1f}{r['h']:>9.1f}{r['aspect']:>7.2f}{r['boxes']:>7}{r['mean_iou']:>8.3f}")
    lines.append(f"mean IoU of every box with its best anchor: {res['mean_iou']:.4f}")
    return "\n".join(lines)


def anchors(data: str | dict[str, Any], out: str | Path | None = None, **options: Any) -> StageResult:
    """k-means anchors for a dataset; ``edgevision anchors`` in Python (writes ``anchors.json``).

    Example:
        >>> edgevision.anchors("pennfudan", k=9, input="320x320").card["anchors"]
    """
    data = {"source": data} if isinstance(data, str) else data
    return run_stage("anchors", {"data": data, **options}, out)


def read_anchors(res: StageResult) -> dict[str, Any]:
    """The ``anchors.json`` a run wrote (``edgevision anchors --json``)."""
    return json.loads(Path(res.artifact).read_text())
