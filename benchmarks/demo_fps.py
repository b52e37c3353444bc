"""Headless-demo throughput: mean fps and per-stage p50 of ``edgevision demo --headless`` on a 640×480 video.

Artifacts: the quickstart's trained ``.pt``, packed ``.evz`` and exported fp32/int8 ``.onnx`` (6 classes, 32×32
input) on every engine that can run them, plus two heavier nets with random weights (timing only, accuracy
is meaningless): SqueezeDet-small detection at 320×320 and ENet (width 0.25) segmentation at 256×256. Each
configuration runs ``--rounds`` times, interleaved; the JSON keeps every round and the median fps. One thread.

The quickstart run is made first when missing (``--prepare`` does only that, outside the lock):

    .venv/bin/python benchmarks/demo_fps.py --prepare
    flock /tmp/edgevision-bench.lock .venv/bin/python benchmarks/demo_fps.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from _common import save

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "apps"))  # the tests' synthetic video writer and artifact builder


def prepare(run: Path) -> Path:
    from edgevision.recipe import quickstart

    if not (run / "report.html").exists():
        quickstart(run)
    return run


def configs(run: Path, tmp: Path) -> list[tuple[str, Path, str]]:
    from edgevision.artifacts import save_model
    from edgevision.models import build_model

    det = save_model(tmp / "det" / "model.pt", build_model("squeezedet_small", num_classes=2, num_anchors=9).eval(),
                     task={"name": "detection", "class_names": ["person", "car"], "input_size": [320, 320],
                           "anchors": [[s * a, s / a] for s in (24, 64, 160) for a in (0.7, 1.0, 1.4)]},
                     preprocess={"channels": 3, "input_size": [320, 320], "mean": [0.5] * 3, "std": [0.25] * 3})
    seg = save_model(tmp / "seg" / "model.pt", build_model("enet", num_classes=3, width_mult=0.25).eval(),
                     task={"name": "segmentation", "class_names": ["background", "a", "b"]},
                     preprocess={"channels": 3, "input_size": [256, 256], "mean": [0.5] * 3, "std": [0.25] * 3})
    pt, evz = run / "train" / "model.pt", run / "pack" / "model.evz"
    fp32, int8 = run / "export" / "model.onnx", run / "export" / "model.int8.onnx"
    rows = [("quickstart .pt", pt, "torch"), ("quickstart .pt", pt, "onnxruntime"), ("quickstart .pt", pt, "cv2"),
            ("quickstart .evz", evz, "torch"), ("quickstart fp32 .onnx", fp32, "onnxruntime"),
            ("quickstart fp32 .onnx", fp32, "cv2"), ("quickstart int8 .onnx", int8, "onnxruntime"),
            ("squeezedet_small 320 (random)", det, "torch"), ("squeezedet_small 320 (random)", det, "onnxruntime"),
            ("enet 0.25 256 (random)", seg, "torch"), ("enet 0.25 256 (random)", seg, "onnxruntime")]
    return [r for r in rows if r[1].exists()]


def measure(cases: list[tuple[str, Path, str]], video: Path, rounds: int, tmp: Path) -> list[dict]:
    from edgevision.apps.demo import demo

    results = {i: [] for i in range(len(cases))}
    for r in range(rounds):  # interleaved: drifting machine load hits every configuration alike
        for i, (label, art, engine) in enumerate(cases):
            s = demo(art, video, out=tmp / f"out{i}_{r}", headless=True, engine=engine, threads=1).card["metrics"]
            results[i].append(s)
            print(f"round {r + 1}: {label:<32} {engine:<12} {s['mean_fps']:7.1f} fps", flush=True)
    out = []
    for i, (label, art, engine) in enumerate(cases):
        runs = results[i]
        med = {k: statistics.median(x["stages"][k]["p50_ms"] for x in runs) for k in runs[0]["stages"]}
        out.append({"artifact": label, "file": str(art.relative_to(art.parents[1])), "engine": engine,
                    "threads": 1, "frames": runs[0]["frames"], "mean_fps_median": statistics.median(
                        x["mean_fps"] for x in runs), "mean_fps_rounds": [round(x["mean_fps"], 2) for x in runs],
                    "p50_ms_median": {k: round(v, 3) for k, v in med.items()}})
    return out


def table(path: Path) -> str:
    """The table of docs/results/demo_fps.md from the JSON."""
    import json

    doc = json.loads(path.read_text())
    lines = ["| artifact | engine | fps (median of rounds) | grab | preprocess | infer | postprocess | draw | output |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in doc["rows"]:
        ms = r["p50_ms_median"]
        lines.append(f"| {r['artifact']} | {r['engine']} | {r['mean_fps_median']:.1f} | "
                     + " | ".join(f"{ms.get(k, float('nan')):.2f}" for k in
                                  ("grab", "preprocess", "infer", "postprocess", "draw", "output")) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, default=REPO / "runs" / "bench" / "quickstart", help="quickstart run folder")
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--prepare", action="store_true", help="only make the quickstart run (no timing)")
    ap.add_argument("--table", action="store_true",
                    help="print the table of docs/results/demo_fps.md from results/demo_fps.json")
    args = ap.parse_args()
    if args.table:
        print(table(Path(__file__).resolve().parent / "results" / "demo_fps.json"))
        return
    os.environ.setdefault("EDGEVISION_PROGRESS", "0")
    run = prepare(args.run)
    if args.prepare:
        return
    import torch
    from demo_helpers import make_video

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        video = make_video(tmp / "clip.avi", frames=args.frames, size=(640, 480), fps=30)
        cases = configs(run, tmp)
        rows = measure(cases, video, args.rounds, tmp)
    save("demo_fps", {"video": {"frames": args.frames, "size": [640, 480], "codec": "MJPEG AVI"},
                      "rounds": args.rounds, "threads": 1, "rows": rows,
                      "note": "fps = frames / wall time of the loop (grab overlaps inference in the grabber thread); "
                              "stage p50s are medians over rounds of per-run p50s; random-weight nets: timing only"})


if __name__ == "__main__":
    main()
