"""Report sections for detection (per-class AP table) and localization (IoU, accuracy, box spread)."""

from __future__ import annotations

from .html import SECTIONS, esc, fmt, section, table
from .runs import StageView


@SECTIONS.register("detection", order=31)
def detection_section(views: list[StageView]) -> str | None:
    parts = []
    for v in views:
        ev = v.json("eval.json")
        if not ev or not isinstance(ev.get("per_class"), dict) or "ap50" not in ev:
            continue
        rows = [[name, r["n_gt"], r.get("ap50"), r.get("ap50_11pt"), r.get("map")]
                for name, r in ev["per_class"].items()]
        rows.append(["mean", sum(r["n_gt"] for r in ev["per_class"].values()), ev.get("ap50"), ev.get("ap50_11pt"),
                     ev.get("map")])
        parts.append(f"<h3>{esc(v.name)}</h3><p>COCO AP[.5:.95] {fmt(ev.get('map'))}, AP50 {fmt(ev.get('map50'))}, "
                     f"AP75 {fmt(ev.get('map75'))}, AR100 {fmt(ev.get('ar100'))}; {fmt(ev.get('n_images'))} images</p>"
                     + table(["class", "ground truth", "AP50 (VOC)", "AP50 11-point", "AP[.5:.95]"], rows))
    return section("Detection", "".join(parts), "detection") if parts else None


@SECTIONS.register("localization", order=32)
def localization_section(views: list[StageView]) -> str | None:
    rows = []
    for v in views:
        ev = v.json("eval.json")
        if ev and "iou" in ev and "box_std" in ev:
            rows.append([v.name, ev["iou"], ev.get("acc50"), ev.get("box_std"), ev.get("top1"), ev.get("n")])
    if not rows:
        return None
    return section("Localization", table(["stage", "mean IoU", "acc@IoU≥0.5", "box spread (std)", "top-1", "n"],
                                         rows), "localization")
