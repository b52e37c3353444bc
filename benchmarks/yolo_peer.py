"""The peer of the Penn-Fudan detection benchmark: ultralytics YOLO11n from scratch on the same images, scored by
the same AP code, timed beside our detectors.

- **Data**: the fixed split of ``edgevision``'s ``pennfudan`` source (100 train, 20 val, 50 test images; the same
  stems as ``benchmarks/pennfudan_detection.py``), written once as a YOLO-format folder under the cache (never into
  the repo). YOLO trains on the 100 training images and validates on the 20 val images; the 50 test images are
  used only for the scores below.
- **Training**: ``YOLO("yolo11n.yaml")`` (no weights: none can be had offline) with ultralytics' own recipe
  (mosaic, task-aligned assignment, CIoU + DFL, EMA, letterbox, close-mosaic) at ``--imgsz`` (256, like ours) for
  ``--epochs``, on the CPU with ``--threads`` torch threads and ``workers=0``, so the process CPU time is the whole
  training cost (``train_cpu_minutes``).
- **Scores**: the test images predicted at the same size, boxes in the images' own pixels, scored with
  :func:`edgevision.metrics.detection.evaluate_detections` (VOC all-point AP50, COCO AP@[.5:.95], AP75): at our
  post-processing (NMS IoU 0.45, top 300, scores ≥ 0.01) and at ultralytics' defaults (IoU 0.7, conf 0.001).
- **Speed**: the network exported to ONNX (opset 17, batch 1, no decode) and timed in onnxruntime on one thread,
  interleaved with the ONNX networks of the edgevision detectors given by ``--ours`` (medians of per-round medians);
  networks only: neither side's decode and NMS is timed here (ours is in the detection benchmark).

Runs in the zoo venv with the peer installed (``make install-peer``; ultralytics is AGPL-3.0 and is used here only
as the yardstick, never imported by edgevision)::

    flock /tmp/edgevision-bench.lock .venv-zoo/bin/python benchmarks/yolo_peer.py --epochs 40 \\
        --ours ~/.cache/edgevision/bench/pennfudan_detection/train-afdet_*-256-60/model.pt
"""

from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("YOLO_OFFLINE", "1")  # nothing may be downloaded at run time
os.environ.setdefault("YOLO_AUTOINSTALL", "false")

import cv2
import numpy as np
import torch

from _common import cpu_seconds, require, save
from edgevision.artifacts import load_artifact
from edgevision.data.detection import cache_dir
from edgevision.data.pennfudan import fixed_split, read_pennfudan
from edgevision.deploy.onnx import export_onnx, ort_session
from edgevision.metrics.detection import evaluate_detections
from edgevision.models import count_params
from edgevision.models.complexity import count_macs
from pennfudan_detection import latencies

POSTS = {"ours": {"iou": 0.45, "conf": 0.01, "max_det": 300}, "ultralytics": {"iou": 0.7, "conf": 0.001,
                                                                              "max_det": 300}}


def yolo_dataset(root: Path) -> tuple[Path, dict[str, list[Any]]]:
    """The fixed split as a YOLO folder (images/<split>/<stem>.png + labels/<split>/<stem>.txt) and its yaml."""
    recs = {r.stem: r for r in read_pennfudan()}
    parts = fixed_split(list(recs))
    for split, stems in parts.items():
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        for s in stems:
            r = recs[s]
            img = root / "images" / split / f"{s}.png"
            if not img.exists():  # written beside and renamed: an interrupted run leaves no half image
                tmp = img.with_name(img.stem + ".part.png")
                cv2.imwrite(str(tmp), cv2.cvtColor(r.image, cv2.COLOR_RGB2BGR))
                tmp.replace(img)
            h, w = r.image.shape[:2]
            b = r.boxes
            cx, cy, bw, bh = (b[:, 0] + b[:, 2]) / 2 / w, (b[:, 1] + b[:, 3]) / 2 / h, (b[:, 2] - b[:, 0]) / w, \
                (b[:, 3] - b[:, 1]) / h
            rows = [f"0 {x:.6f} {y:.6f} {ww:.6f} {hh:.6f}" for x, y, ww, hh in zip(cx, cy, bw, bh)]
            (root / "labels" / split / f"{s}.txt").write_text("\n".join(rows) + "\n")
    yaml_path = root / "pennfudan.yaml"
    yaml_path.write_text(f"path: {root}\ntrain: images/train\nval: images/val\ntest: images/test\n"
                         "names:\n  0: person\n")
    return yaml_path, {"test": [recs[s] for s in parts["test"]]}


def cpu_budget(budget_s: float, c0: float):
    """An ultralytics ``on_fit_epoch_end`` callback that sizes the run to ``budget_s`` CPU seconds counted from
    ``c0``, the way ultralytics' own ``time=`` mode sizes it to wall seconds (epochs re-estimated after each epoch,
    schedule and close-mosaic refitted): wall time would give the peer less CPU than us on a loaded machine."""
    def fit(trainer: Any) -> None:
        done = trainer.epoch + 1
        used = cpu_seconds() - c0
        trainer.epochs = trainer.args.epochs = max(done, math.ceil(budget_s * done / used))
        trainer._setup_scheduler()
        trainer.scheduler.last_epoch = trainer.epoch
        trainer.stop |= done >= trainer.epochs
    return fit


def train_yolo(data: Path, work: Path, epochs: int, imgsz: int, threads: int, seed: int,
               cpu_budget_s: float | None = None) -> tuple[Any, float, float]:
    """Train YOLO11n from ``yolo11n.yaml`` with ultralytics' own recipe for ``epochs``, or, with ``cpu_budget_s``,
    for as many epochs as fit in that many CPU seconds (:func:`cpu_budget`)."""
    from ultralytics import YOLO

    torch.set_num_threads(threads)
    model = YOLO("yolo11n.yaml")
    c0, t0 = cpu_seconds(), time.perf_counter()
    if cpu_budget_s:
        model.add_callback("on_fit_epoch_end", cpu_budget(cpu_budget_s, c0))
    tag = f"cpu{cpu_budget_s / 60:.1f}min" if cpu_budget_s else f"e{epochs}"
    model.train(data=str(data), epochs=epochs, imgsz=imgsz, batch=16, device="cpu", workers=0, seed=seed,
                deterministic=True, project=str(work), name=f"yolo11n_{tag}_s{seed}", exist_ok=True, plots=False,
                amp=False, verbose=False, cache=True)
    return model, (cpu_seconds() - c0) / 60, (time.perf_counter() - t0) / 60


def yolo_scores(model: Any, test: list[Any], imgsz: int) -> dict[str, dict[str, Any]]:
    gts = [{"boxes": r.boxes, "labels": np.zeros(len(r.boxes), np.int64)} for r in test]
    out = {}
    for name, post in POSTS.items():
        dets = []
        for r in test:
            res = model.predict(cv2.cvtColor(r.image, cv2.COLOR_RGB2BGR), imgsz=imgsz, device="cpu", verbose=False,
                                **post)[0]
            dets.append({"boxes": res.boxes.xyxy.numpy(), "scores": res.boxes.conf.numpy(),
                         "labels": res.boxes.cls.numpy().astype(np.int64)})
        m = evaluate_detections(dets, gts, ["person"])
        out[name] = {"nms_iou": post["iou"], "score_threshold": post["conf"], "ap50": m["ap50"],
                     "coco_map": m["map"], "ap75": m["map75"]}
    return out


def yolo_onnx(model: Any, imgsz: int, work: Path) -> Path:
    """YOLO's network (eval mode, its output (B, 4 + C, N) before NMS) at batch 1 in ONNX."""
    net = model.model.eval()
    for m in net.modules():  # ultralytics' export switches the head to its export path the same way
        if hasattr(m, "export"):
            m.export = True
    path = work / f"yolo11n_{imgsz}.onnx"
    torch.onnx.export(net, (torch.zeros(1, 3, imgsz, imgsz),), str(path), dynamo=False, opset_version=17,
                      input_names=["input"], output_names=["output"])
    return path


def timed(path: Path, shape: tuple[int, int, int]):
    sess = ort_session(path, 1)
    x = np.random.default_rng(0).standard_normal((1, *shape)).astype(np.float32)
    name = sess.get_inputs()[0].name
    return lambda: sess.run(None, {name: x})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--imgsz", type=int, default=256)
    ap.add_argument("--threads", type=int, default=1, help="torch threads for training (timing always uses 1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ours", nargs="*", default=[], help="edgevision detector artifacts timed beside YOLO")
    ap.add_argument("--work", default=str(cache_dir() / "bench" / "yolo_peer"))
    ap.add_argument("--name", default="yolo_peer")
    args = ap.parse_args()
    require("penn_fudan_ped")
    work = Path(args.work).expanduser()
    data, parts = yolo_dataset(work / "data")
    model, cpu_min, wall_min = train_yolo(data, work, args.epochs, args.imgsz, args.threads, args.seed)
    scores = yolo_scores(model, parts["test"], args.imgsz)
    net = model.model
    shape = (3, args.imgsz, args.imgsz)
    fns = {"yolo11n": timed(yolo_onnx(model, args.imgsz, work), shape)}
    ours = {}
    for p in args.ours:
        art = load_artifact(p)
        label = f"{art.arch.name}:{Path(p).parent.name}"
        onnx = export_onnx(art.model, work / f"ours_{len(ours)}.onnx", art.input_shape, dynamic_batch=False)
        fns[label] = timed(onnx, art.input_shape)
        ours[label] = {"artifact": str(p), "params": count_params(art.model),
                       "macs": count_macs(art.model, art.input_shape), "input": list(art.input_shape)}
    torch.set_num_threads(1)
    ms = latencies(fns)
    result = {"peer": "ultralytics YOLO11n (yolo11n.yaml, from scratch)", "epochs": args.epochs,
              "imgsz": args.imgsz, "train_threads": args.threads, "seed": args.seed,
              "train_cpu_minutes": round(cpu_min, 2), "train_wall_minutes": round(wall_min, 2),
              "train_images": 100, "val_images": 20, "test_images": len(parts["test"]),
              "params": sum(p.numel() for p in net.parameters()), "scores": scores,
              "ap50": scores["ours"]["ap50"], "ms_1t": {k: round(v, 3) for k, v in ms.items()},
              "fps_1t": round(1000 / ms["yolo11n"], 1), "ours": {k: {**v, "ms_1t": round(ms[k], 3),
                                                                    "x_yolo": round(ms["yolo11n"] / ms[k], 2)}
                                                                for k, v in ours.items()},
              "timing": "onnxruntime, batch 1, 1 thread, network only, interleaved rounds (median of 5)",
              "load_average_1_5_15": [round(v, 2) for v in os.getloadavg()]}
    save(args.name, result)


if __name__ == "__main__":
    main()
