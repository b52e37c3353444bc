"""A detector on Penn-Fudan pedestrians: AP on the fixed held-out split, size, MACs, and 1-thread speed.

Trains the ``train`` stage of a packaged recipe (``--recipe``, default ``pennfudan-detection-afdet``, the
anchor-free AFDet, our best configuration; ``pennfudan-detection`` is SqueezeDet) from scratch (no pretrained
weights exist offline) on the fixed 100-image training split, then on the 50 held-out test images measures:

- AP@0.5 (VOC all-point, the headline ``ap50``), AP@0.5 11-point, COCO mAP@[.5:.95] (``coco_map``), computed
  like ``edgevision eval``: the top 300 candidates per image before NMS and scores ≥ 0.01 (AP integrates over all
  recall levels); ``ap50_top64`` is the same with the doc's top-64 cut that predictions use;
- params and MACs at the recipe's input (3×256×256, chosen for training cost; ``--input 320`` trains and times
  it at 320², and ``ms_fp32_at_320`` always times the trained network exported at 320²);
- ms per image at batch 1 on **one thread** in onnxruntime, fp32 and int8 (static QDQ quantization with
  ``onnxruntime.quantization.quantize_static``, per-channel weights, calibrated on training images), medians
  after a warm-up, fp32 and int8 interleaved in the same process; the NumPy pre-processing (normalize) and
  post-processing (decode, top-64, per-class NMS, threshold) timed separately (``ms_post`` is their sum);
- ``fps_1t`` = 1000 / (fp32 network ms + post-processing ms), and the same for int8;
- AP of the exported fp32 and int8 graphs (so the int8 speed is quoted with its accuracy);
- with ``--peer`` (in the zoo venv after ``make install-peer``): ultralytics YOLO11n from ``yolo11n.yaml`` trained
  in the same run with our training's CPU seconds as its budget (epochs re-sized after each epoch, as ultralytics'
  ``time=`` does with wall seconds), scored by the same
  AP code on the same test images, its network timed interleaved with ours: the ``peer`` key.

The goal is AP@0.5 ≥ 0.80 at ≥ 30 fps at 320². The training run lives in ``--work`` (default
``~/.cache/edgevision/bench/pennfudan_detection``) in a folder named by model, input size and epochs, and resumes /
is reused when it is already complete.

Results go to ``results/pennfudan_detection.json`` for the default recipe and model, else to
``results/pennfudan_detection_<model>.json`` (``--name`` overrides). Training CPU seconds are counted
(``train_cpu_minutes``) and kept beside the run, so a reused run still reports them.

Usage: flock /tmp/edgevision-bench.lock .venv-zoo/bin/python benchmarks/pennfudan_detection.py --peer
       flock /tmp/edgevision-bench.lock python benchmarks/pennfudan_detection.py --recipe pennfudan-detection
       python benchmarks/pennfudan_detection.py --train-only   # the long training, outside the lock
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from _common import cpu_seconds, require, save
from edgevision.artifacts import load_artifact
from edgevision.data import DataConfig, load_data
from edgevision.data.detection import cache_dir, dataset_boxes
from edgevision.deploy.detection import export_detector
from edgevision.deploy.detector_runtime import OnnxDetector
from edgevision.deploy.onnx import export_onnx, ort_session
from edgevision.metrics.detection import evaluate_detections
from edgevision.models import count_params
from edgevision.models.complexity import count_macs
from edgevision.ops.postprocess import postprocess
from edgevision.tasks import build_task
from edgevision.train.evaluate import evaluate
from edgevision.train.stage import train
from edgevision.utils.timing import measure

DEFAULT_RECIPE = "pennfudan-detection-afdet"


def recipe_train_options(name: str = DEFAULT_RECIPE) -> dict[str, Any]:
    with resources.as_file(resources.files("edgevision") / "recipes" / f"{name}.yaml") as p:
        recipe = yaml.safe_load(Path(p).read_text())
    opts = dict(recipe["stages"][0]["train"])
    opts["data"] = recipe["data"]
    opts["seed"] = recipe.get("seed", 0)
    return opts


def quantize_int8(fp32: Path, out: Path, calib: np.ndarray) -> Path:
    """Static int8 (QDQ, per-channel weights, uint8 activations) calibrated on ``calib`` (N, 3, H, W)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter([{"input": calib[i:i + 1]} for i in range(len(calib))])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.it, None)

    pre = out.with_name(out.stem + "_pre.onnx")
    quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
    quantize_static(str(pre), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    shutil.copy(fp32.with_suffix(".json"), out.with_suffix(".json"))
    pre.unlink()
    return out


def onnx_ap(det: OnnxDetector, images: np.ndarray, gts: list[dict[str, np.ndarray]], names: list[str]) -> dict:
    """AP of an exported detector on images already at its input size (uint8 (N, H, W, 3))."""
    dets = []
    for i in range(len(images)):
        dets += det([images[i]])
    return evaluate_detections(dets, gts, names)


def latencies(fns: dict[str, Callable[[], Any]], rounds: int = 5) -> dict[str, float]:
    """Median ms per call of each batch-1 network run, interleaved ``rounds`` times (each: warm-up + timed runs)."""
    runs: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            runs[name].append(measure(fn, warmup=5, min_runs=20, budget_s=1.0)["p50_ms"])
    return {k: float(np.median(v)) for k, v in runs.items()}


def at_320(model: torch.nn.Module, work: Path) -> Callable[[], Any]:
    """The same trained network (bare ConvDet output) exported at 3×320×320, as a timed batch-1 call, so the
    JSON can say how fast the goal's input size would be (the grid grows from 16² to 20² cells; weights are shared
    because the network is fully convolutional)."""
    path = work / f"{type(model).__name__.lower()}_320.onnx"
    sess = ort_session(export_onnx(model, path, (3, 320, 320), dynamic_batch=False), 1)
    x = np.random.default_rng(0).standard_normal((1, 3, 320, 320)).astype(np.float32)
    return lambda: sess.run(None, {"input": x})


REFERENCE = "squeezedet_small"


def reference_net(shape: tuple[int, ...], work: Path) -> Callable[[], Any]:
    """An untrained ``squeezedet_small`` (9 anchors, 1 class) at the same input as a timed batch-1 call: latency
    does not depend on the weights, so timing it interleaved with the measured network gives a ratio that holds
    on a loaded machine, and ties the run to the headline SqueezeDet numbers."""
    from edgevision.models import build_model

    net = build_model(REFERENCE, num_classes=1, num_anchors=9).eval()
    sess = ort_session(export_onnx(net, work / f"{REFERENCE}_ref.onnx", shape, dynamic_batch=False), 1)
    x = np.random.default_rng(0).standard_normal((1, *shape)).astype(np.float32)
    return lambda: sess.run(None, {"input": x})


def train_counted(out: Path, **opts: Any):
    """``train`` (resumed when ``out`` holds a run) with its CPU seconds added up in ``out/cpu_seconds.json``, so a
    finished run reused later still knows what it cost."""
    f = out / "cpu_seconds.json"
    before = json.loads(f.read_text())["cpu_s"] if f.exists() else 0.0
    c0 = cpu_seconds()
    res = train(out=out, resume=True, **opts)
    used = cpu_seconds() - c0
    if used > 5:  # a run that was already complete only loads
        tmp = f.with_suffix(".part")
        tmp.write_text(json.dumps({"cpu_s": before + used}))
        tmp.replace(f)
    return res, (before + used if used > 5 else before)


def peer_run(work: Path, ours: str, cpu_s: float, imgsz: int, threads: int, seed: int) -> tuple[dict[str, Any], Any]:
    """YOLO11n from ``yolo11n.yaml`` (ultralytics' own recipe, benchmarks/yolo_peer.py) trained in this run with our
    training's CPU seconds as its budget; its scores on the same test images, and its ONNX network timed."""
    from ultralytics import YOLO

    from yolo_peer import timed as peer_timed
    from yolo_peer import train_yolo, yolo_dataset, yolo_onnx, yolo_scores

    root = work / "peer"
    data, parts = yolo_dataset(root / "data")
    done = root / f"peer_of_{ours}_s{seed}.json"  # one peer per run of ours: its budget is that run's CPU time
    if done.exists():  # trained by an earlier call (--train-only)
        info = json.loads(done.read_text())
        model = YOLO(info["weights"])
    else:
        model, cpu_min, wall_min = train_yolo(data, root, 100, imgsz, threads, seed, cpu_budget_s=cpu_s)
        info = {"model": "ultralytics YOLO11n (yolo11n.yaml, from scratch, its own recipe)",
                "budget": "our training's CPU seconds (epochs sized after each epoch)",
                "epochs_run": model.trainer.epoch + 1,
                "train_cpu_minutes": round(cpu_min, 2), "train_wall_minutes": round(wall_min, 2),
                "train_threads": threads, "weights": str(model.trainer.best)}
        info["scores"] = yolo_scores(model, parts["test"], imgsz)
        info["params"] = sum(p.numel() for p in model.model.parameters())
        done.write_text(json.dumps(info, indent=1))
    info["macs"] = count_macs(model.model, (3, imgsz, imgsz))
    return info, peer_timed(yolo_onnx(model, imgsz, root), (3, imgsz, imgsz))


def peer_summary(peer: dict[str, Any], ms: dict[str, float], our_ap50: float) -> dict[str, Any]:
    """The peer's row: AP at our post-processing (NMS IoU 0.45) and at its own, and its network's one-thread speed
    beside ours (both networks only, timed interleaved), with the goal: AP50 ≥ 0.91 at ≥ 2× its speed."""
    ours = peer["scores"]["ours"]
    speed = ms["peer"] / ms["fp32"]
    return {**{k: v for k, v in peer.items() if k != "scores"}, "ap50": ours["ap50"], "coco_map": ours["coco_map"],
            "ap75": ours["ap75"], "ap50_own_nms": peer["scores"]["ultralytics"]["ap50"],
            "ms_1t": round(ms["peer"], 3), "fps_1t": round(1000 / ms["peer"], 1),
            "our_speedup_network": round(speed, 2),
            "goal": {"ap50": 0.91, "speedup": 2.0, "met": our_ap50 >= 0.91 and speed >= 2.0}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default=DEFAULT_RECIPE, help="packaged recipe whose train stage is measured")
    ap.add_argument("--name", help="results file name (default: pennfudan_detection[_<model>])")
    ap.add_argument("--epochs", type=int, help="override the recipe's epochs")
    ap.add_argument("--model", help="override the recipe's model")
    ap.add_argument("--input", type=int, help="override the recipe's square input size")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for training (timings always use 1)")
    ap.add_argument("--work", default=str(cache_dir() / "bench" / "pennfudan_detection"))
    ap.add_argument("--train-only", action="store_true", help="train (or finish training) and stop: training needs "
                    "no quiet machine, so it can run outside the benchmark lock; the timed part reuses the run")
    ap.add_argument("--peer", action="store_true", help="also train ultralytics YOLO11n in this run with the same "
                    "CPU budget and report it as `peer` (needs the zoo venv with `make install-peer`)")
    ap.add_argument("--unlocked", action="store_true", help="record that the timings were taken without the "
                    "benchmark lock (a busy machine): they are then an upper bound, not a measurement to quote")
    args = ap.parse_args()
    require("penn_fudan_ped")
    torch.set_num_threads(args.threads)
    opts = recipe_train_options(args.recipe)
    if args.epochs:
        opts["epochs"] = args.epochs
    if args.model:
        opts["model"] = args.model
    if args.input:
        opts["data"] = {**opts["data"], "input_size": args.input}
    work = Path(args.work)
    name = f"train-{opts['model']}-{opts['data']['input_size']}-{opts['epochs']}"
    res, train_cpu_s = train_counted(work / name, **opts)
    peer = peer_fn = None
    if args.peer:
        peer, peer_fn = peer_run(work, name, train_cpu_s, opts["data"]["input_size"], args.threads, opts["seed"])
    if args.train_only:
        return
    art = load_artifact(res.artifact)
    history = [json.loads(x) for x in (res.run_dir / "metrics.jsonl").read_text().splitlines()]
    ev = evaluate(res.artifact, out=work / "eval", split="test")
    test = json.loads((ev.run_dir / "eval.json").read_text())

    splits = load_data(DataConfig.model_validate(art.meta["data"]), "detection")
    shape = art.input_shape
    tag = opts["model"]
    fp32, _ = export_detector(art.model, work / f"{tag}_fp32.onnx", art.task, art.preprocess, "numpy",
                              dynamic_batch=False)
    graph, _ = export_detector(art.model, work / f"{tag}_graph.onnx", art.task, art.preprocess, "graph",
                               dynamic_batch=False)
    pre = art.preprocess
    mean, std = np.asarray(pre["mean"], np.float32), np.asarray(pre["std"], np.float32)
    calib = ((splits.train.images[:64].permute(0, 2, 3, 1).numpy() / 255 - mean) / std).transpose(0, 3, 1, 2)
    int8 = quantize_int8(fp32, work / f"{tag}_int8.onnx", np.ascontiguousarray(calib, dtype=np.float32))

    task = build_task(art.task)
    dets = {"fp32": OnnxDetector(fp32, threads=1), "int8": OnnxDetector(int8, threads=1),
            "fp32_graph_decode": OnnxDetector(graph, threads=1)}
    test_imgs = splits.test.images.permute(0, 2, 3, 1).numpy()
    gts = [{"boxes": b, "labels": lab.numpy()} for b, lab in zip(dataset_boxes(splits.test),
                                                                 splits.test.targets["labels"])]
    onnx_aps = {}
    for k, d in dets.items():  # AP with the same post-processing as `eval` (top 300 before NMS, score ≥ 0.01)
        d.post = task.eval_post()
        onnx_aps[k] = onnx_ap(d, test_imgs, gts, splits.class_names)
    top64 = dets["fp32"].post = replace(task.eval_post(), top_n=task.post().top_n)  # the doc's top-64
    onnx_aps["fp32_top64"] = onnx_ap(dets["fp32"], test_imgs, gts, splits.class_names)
    for d in dets.values():  # timings use the deployed post-processing (top 64, display threshold)
        d.post = task.post()
    x1 = dets["fp32"].preprocess([test_imgs[0]])
    timed = {k: (lambda d=d: d.raw(x1)) for k, d in dets.items()}
    if tuple(shape[1:]) != (320, 320):
        timed["fp32_320"] = at_320(art.model, work)
    if opts["model"] != REFERENCE:
        timed["reference"] = reference_net(tuple(shape), work)
    if peer_fn is not None:
        timed["peer"] = peer_fn
    ms = latencies(timed)
    det, raw = dets["fp32"], dets["fp32"].raw(x1)
    pre_ms = measure(lambda: det.preprocess([test_imgs[0]]), warmup=5, min_runs=50, budget_s=1.0)["p50_ms"]
    decode_ms = measure(lambda: postprocess(*det.decode(raw), det.post), warmup=5, min_runs=50,
                        budget_s=1.0)["p50_ms"]  # decode, scores, top-64, per-class NMS, threshold
    post_ms = pre_ms + decode_ms
    fps = 1000 / (ms["fp32"] + post_ms)
    fps_int8 = 1000 / (ms["int8"] + post_ms)
    result = {
        "ap50": test["ap50"], "ap50_11pt": test["ap50_11pt"], "coco_map": test["map"], "coco_map50": test["map50"],
        "coco_map75": test["map75"], "fps_1t": round(fps, 1), "fps_1t_int8": round(fps_int8, 1),
        "params": count_params(art.model), "macs": count_macs(art.model, shape),
        "ms_fp32": round(ms["fp32"], 3), "ms_int8": round(ms["int8"], 3),
        "ms_fp32_graph_decode": round(ms["fp32_graph_decode"], 3), "ms_post": round(post_ms, 3),
        "ms_preprocess": round(pre_ms, 3), "ms_decode_nms": round(decode_ms, 3),
        "int8_speedup": round(ms["fp32"] / ms["int8"], 3),
        "ap50_onnx_fp32": onnx_aps["fp32"]["ap50"], "ap50_onnx_int8": onnx_aps["int8"]["ap50"],
        "coco_map_onnx_int8": onnx_aps["int8"]["map"], "ap50_onnx_graph_decode": onnx_aps["fp32_graph_decode"]["ap50"],
        "ap50_top64": onnx_aps["fp32_top64"]["ap50"], "coco_map_top64": onnx_aps["fp32_top64"]["map"],
        "eval_postprocess": {"top_n": task.eval_post().top_n, "nms_iou": top64.nms_iou,
                             "score_threshold": task.eval_post().score_threshold},
        "goal": {"ap50": 0.80, "fps_1t": 30, "input": 320, "ap50_met": test["ap50"] >= 0.80, "fps_met": fps >= 30},
        "ms_fp32_at_320": round(ms.get("fp32_320", ms["fp32"]), 3),
        **({"ms_reference": round(ms["reference"], 3), "reference": f"{REFERENCE} (untrained, same input)",
            "fp32_vs_reference": round(ms["fp32"] / ms["reference"], 3)} if "reference" in ms else {}),
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "fps_1t_at_320": round(1000 / (ms.get("fp32_320", ms["fp32"]) + post_ms), 1),
        "model": opts["model"], "recipe": args.recipe, "input": list(shape), "test_images": len(splits.test),
        "train_images": len(splits.train), "best_epoch": res.metrics.get("best_epoch"), "epochs": opts["epochs"],
        "train_seconds": round(sum(r.get("time_s", 0) for r in history), 1), "train_threads": args.threads,
        "train_cpu_minutes": round(train_cpu_s / 60, 2),
        "timing_threads": 1, "timed_under_lock": not args.unlocked,
        "int8_method": "onnxruntime.quantization.quantize_static, QDQ, per-channel int8 weights, uint8 activations, "
                       "MinMax calibration on 64 training images", "per_class": test["per_class"],
        "train_options": opts}
    if peer is not None:
        result["peer"] = peer_summary(peer, ms, test["ap50"])
    default = args.recipe == DEFAULT_RECIPE and opts["model"] == recipe_train_options()["model"]
    save(args.name or ("pennfudan_detection" if default else f"pennfudan_detection_{opts['model']}"), result)
    print({k: result[k] for k in ("ap50", "coco_map", "fps_1t", "fps_1t_int8", "ms_fp32", "ms_int8", "ms_post",
                                  "ap50_onnx_int8", "params", "macs")})


if __name__ == "__main__":
    main()
