"""Report section of segmentation evaluations (from ``eval.json``): the Demborg (2018) metrics per stage, the mAP_x
curve over IoU thresholds, and per-class IoU."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt

from .html import SECTIONS, esc, section, table
from .plots import to_data_uri
from .runs import StageView


def map_curve_plot(curves: dict[str, dict[str, Any]]) -> str:
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    for name, c in curves.items():
        ax.plot(c["thresholds"], c["values"], marker="o", ms=3, label=name)
    ax.set_xlabel("IoU threshold x")
    ax.set_ylabel("mAP_x (share of images with IoU ≥ x)")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return to_data_uri(fig)


@SECTIONS.register("segmentation", order=31)
def segmentation_section(views: list[StageView]) -> str | None:
    """Demborg (2018) metrics of every stage whose eval.json is a segmentation evaluation."""
    rows, curves, per_class = [], {}, []
    for v in views:
        ev = v.json("eval.json")
        if not ev or "map_curve" not in ev:
            continue
        rows.append([v.name, ev.get("n"), ev.get("mpa"), ev.get("miou"), ev.get("mdice"), ev.get("map_50"),
                     ev.get("map_75"), ev.get("map"), ev.get("miou_dataset")])
        curves[v.name] = ev["map_curve"]
        pc = ev.get("per_class", {})
        body = [[n, i, d, ds, k] for n, i, d, ds, k in zip(ev["class_names"], pc.get("iou", []), pc.get("dice", []),
                                                            pc.get("iou_dataset", []), pc.get("images_present", []))]
        per_class.append(f"<details><summary>{esc(v.name)}: per-class IoU</summary>"
                         + table(["class", "IoU (mean over images)", "Dice", "IoU (dataset)", "images"], body)
                         + "</details>")
    if not rows:
        return None
    head = table(["stage", "images", "mA", "mIoU", "mDice", "mAP_0.5", "mAP_0.75", "mAP_0.5:0.95", "mIoU (dataset)"],
                 rows)
    return section("Segmentation", head + f'<img alt="mAP_x curves" src="{map_curve_plot(curves)}">'
                   + "".join(per_class), "segmentation")
