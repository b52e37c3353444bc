"""Print the detection (with its YOLO11n peer) and localization tables of docs/results/pennfudan_detection.md, and
the ablation tables of docs/results/detection_ablation.md (Markdown), from the JSON in ``benchmarks/results/``.

Usage: python benchmarks/detection_tables.py
"""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def load(name: str) -> dict | None:
    p = RESULTS / f"{name}.json"
    return json.loads(p.read_text()) if p.exists() else None


def cpu_minutes(d: dict) -> str:
    """Training CPU minutes when the file has them, else the training's wall minutes."""
    if "train_cpu_minutes" in d:
        return f"{d['train_cpu_minutes']:.1f} CPU-minutes"
    return f"{d['train_seconds'] / 60:.1f} wall minutes"


def detection(d: dict) -> list[str]:
    h, w = d["input"][1:]
    g = d["goal"]
    return [
        f"| `{d['model']}` on Penn-Fudan (50 held-out images) | ours | goal (SqueezeDet's doc, 320²) |",
        "|---|---|---|",
        f"| model, input | `{d['model']}`, {h}×{w}, from scratch, {d['epochs']} epochs on {d['train_images']} "
        f"images ({cpu_minutes(d)}, {d['train_threads']} thread{'s' * (d['train_threads'] > 1)}) | 320² |",
        f"| AP@0.5 (VOC all-point) | **{d['ap50']:.3f}** (11-point {d['ap50_11pt']:.3f}) | ≥ {g['ap50']:.2f} |",
        f"| COCO AP@[.5:.95] | {d['coco_map']:.3f} (AP75 {d['coco_map75']:.3f}) | — |",
        f"| params / MACs | {d['params'] / 1e6:.2f} M / {d['macs'] / 1e6:.0f} M | — |",
        f"| 1 thread, onnxruntime fp32: network + NumPy post | {d['ms_fp32']:.2f} + {d['ms_post']:.2f} ms = "
        f"**{d['fps_1t']:.1f} fps** | ≥ {g['fps_1t']} fps |",
        f"| the same network at 320² | {d['ms_fp32_at_320']:.2f} ms → {d['fps_1t_at_320']:.1f} fps | ≥ 30 fps |",
        f"| int8 (static QDQ) | {d['ms_int8']:.2f} ms → {d['fps_1t_int8']:.1f} fps, AP@0.5 "
        f"{d['ap50_onnx_int8']:.3f} | — |",
    ]


def peer(d: dict) -> list[str]:
    p, g = d["peer"], d["peer"]["goal"]
    return [
        f"| Penn-Fudan, same 100 / 50 images, {d['input'][1]}², from scratch, same run | `{d['model']}` (ours) "
        "| YOLO11n (ultralytics' recipe) | goal |",
        "|---|---:|---:|---:|",
        f"| training budget | {d['epochs']} epochs, {d['train_cpu_minutes']:.1f} CPU-min | {p['epochs_run']} epochs, "
        f"{p['train_cpu_minutes']:.1f} CPU-min | same |",
        f"| AP50, VOC all-point, NMS IoU 0.45 | **{d['ap50']:.3f}** | {p['ap50']:.3f} (own NMS: "
        f"{p['ap50_own_nms']:.3f}) | ≥ {g['ap50']:.2f} |",
        f"| COCO AP / AP75 | {d['coco_map']:.3f} / {d['coco_map75']:.3f} | {p['coco_map']:.3f} / {p['ap75']:.3f} | — |",
        f"| params / MACs | {d['params'] / 1e6:.2f} M / {d['macs'] / 1e6:.0f} M | {p['params'] / 1e6:.2f} M / "
        f"{p['macs'] / 1e6:.0f} M | — |",
        f"| batch-1 one-thread ONNX network, interleaved | **{d['ms_fp32']:.2f} ms** | {p['ms_1t']:.2f} ms | "
        f"ours ≥ {g['speedup']:.0f}× faster: {p['our_speedup_network']:.2f}× |",
    ]


def localization(d: dict) -> list[str]:
    pf = d["pennfudan_crops"]
    s = d["settings"]
    rows = [
        f"| Penn-Fudan single-pedestrian crops ({pf['constant_baseline']['n_test']} test crops, {s['input']}², "
        f"{s['epochs']} epochs) | mean IoU | acc@IoU≥0.5 | box spread |",
        "|---|---|---|---|",
        f"| constant box (training-set mean) | {d['constant_baseline_iou']:.3f} | {d['constant_baseline_acc50']:.3f} "
        f"| 0 (truth: {d['truth_box_std']:.3f}) |",
    ]
    for key, name in (("none", "localizer, RGB"), ("harris", "localizer, RGB + Harris channel (Asplund 2016)"),
                      ("canny", "localizer, RGB + Canny channel")):
        r = pf[key]
        rows.append(f"| {name} | **{r['iou']:.3f}** | {r['acc50']:.3f} | {r['box_std']:.3f} |")
    rows.append("| Asplund's (2016) localizer (Harris + CNN, Euclidean loss on pixels) | — | — | "
                "0: one box for every image |")
    return rows


ROW_NAMES = {"baseline": "baseline (the recipe's augmentations, no mosaic, stretched resize)",
             "ema": "+ EMA of the weights",
             "mosaic": "+ mosaic", "mixup": "+ mixup", "letterbox": "+ letterbox resize",
             "close_mosaic": "+ close_mosaic", "afdet_on_ema": "AFDet head on the + EMA row"}


def ablation(d: dict) -> list[str]:
    val = all(r.get("val_ap50") is not None for r in d["rows"])
    rows = [f"| {d['model']}, {d['input']}², {d['epochs']} epochs, cumulative |{' val AP50 |' if val else ''} AP50 | "
            "Δ AP50 | COCO AP | AP75 | train CPU s |", "|---|" + "---|" * (6 if val else 5)]
    prev = None
    for r in d["rows"]:
        delta = "—" if prev is None else f"{r['ap50'] - prev:+.3f}"
        v = f" {r['val_ap50']:.3f} |" if val else ""
        rows.append(f"| {ROW_NAMES.get(r['row'], r['row'])} |{v} {r['ap50']:.3f} | {delta} | {r['coco_map']:.3f} | "
                    f"{r['ap75']:.3f} | {r['train_cpu_s']:.0f} |")
        prev = r["ap50"]
    return rows


def main() -> None:
    head = load("pennfudan_detection")
    if head and "peer" in head:
        print("\n".join(peer(head)), end="\n\n")
    for name, fn in (("pennfudan_detection", detection), ("pennfudan_detection_squeezedet_small", detection),
                     ("localization", localization), ("detection_ablation_afdet_e100", ablation),
                     ("detection_ablation", ablation), ("detection_ablation_e20", ablation),
                     ("detection_ablation_e20_afdet", ablation)):
        d = load(name)
        print("\n".join(fn(d)) if d else f"({name}.json not found)", end="\n\n")
    c = load("coco128_smoke")
    if c:
        print(f"COCO128 smoke: {c['epochs']} epochs at {c['input']}², {c['classes_in_test']} classes in the test "
              f"split, AP@0.5 {c['test_ap50_yolo_labels']:.3f} (YOLO labels) / {c['test_ap50_coco_json']:.3f} (COCO "
              f"JSON), train loss {c['train_loss_first_last'][0]:.2f} → {c['train_loss_first_last'][1]:.2f}")


if __name__ == "__main__":
    main()
