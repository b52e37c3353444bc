"""How do the compression verbs grow with the model? Time and peak memory from 0.3 M to 25 M parameters.

ResNet-18 (He et al. 2016) at width multipliers 0.16 → 1.5 (0.29 M → 25.1 M parameters, 10 classes, 32² inputs,
random weights: the work a verb does depends on the tensors' sizes, not on what they learned). Each verb runs in
its own process through the Python API, with no fine-tuning (``epochs=0``), so what is timed is the verb itself:

    prune (naive, 90 %) → cluster (5 bits) → pack → unpack;  shrink (30 % of channels);  lowrank (SVD, rank/4);
    quantize (int8 post-training, min/max calibration; its export, parity checks and timed rounds included)

Per verb and size: wall seconds of the call and its peak resident memory above the process's peak before the
call (torch and edgevision imported), also as a multiple of the fp32 weights' bytes. That peak includes what the
verb imports and the data it evaluates on (about 100 MB whatever the size), so the memory that grows with the model
is the *marginal* multiple: (peak at the largest − peak at the smallest) / (their fp32 weights' difference).
Growth is the log-log slope of seconds against parameters (1 = linear). Targets at 25 M parameters: ``pack``
≤ 5 s and ≤ 2× the fp32 weights in memory.

Usage: python benchmarks/scaling.py [--widths 0.16,0.3,0.52,0.95,1.5] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import save

# the verb, its input (a file written by an earlier verb, or the dense model), its output file, its options
PIPELINE = [
    ("prune", "dense.pt", "prune/model.pt", {"criterion": "naive", "sparsity": 0.9, "epochs": 0}),
    ("cluster", "prune/model.pt", "cluster/model.pt", {"bits": 5, "epochs": 0}),
    ("pack", "cluster/model.pt", "pack/model.evz", {}),
    ("unpack", "pack/model.evz", "unpack/model.pt", {}),
    ("shrink", "dense.pt", "shrink/model.pt", {"ratio": 0.3, "epochs": 0}),
    ("lowrank", "dense.pt", "lowrank/model.pt", {"method": "svd", "rank_ratio": 0.25, "epochs": 0}),
    ("quantize", "dense.pt", "quantize/model.int8.onnx", {"qat": "off", "calibration": "minmax", "epochs": 0}),
]

CHILD = r"""
import json, resource, sys, time
import torch
import edgevision as ev
verb, src, out, opts, threads = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4]), int(sys.argv[5])
torch.set_num_threads(threads)
fn = getattr(ev, verb)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
fn(src, out=out, **opts)
sec = time.perf_counter() - t0
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": sec, "peak_mb": (after - before) / 1024}))
"""


def make_dense(path: Path, width: float) -> int:
    """A ResNet-18 at ``width`` with random weights, saved as an edgevision model; returns its parameter count."""
    import torch

    from edgevision.artifacts import save_model
    from edgevision.models import build_model

    torch.manual_seed(0)
    model = build_model("resnet18", width_mult=width, num_classes=10).eval()
    data = {"source": "synthetic:shapes", "input_size": 32,
            "options": {"num_classes": 10, "n_train": 64, "n_val": 32, "n_test": 32}}
    pre = {"input_size": [32, 32], "channels": 3, "mean": [0.5] * 3, "std": [0.25] * 3, "scale": 1 / 255}
    task = {"name": "classification", "class_names": [str(i) for i in range(10)]}
    save_model(path, model, task=task, preprocess=pre, meta={"data": data, "stage": "train"})
    return sum(p.numel() for p in model.parameters())


def run_verb(folder: Path, verb: str, src: str, out: str, opts: dict, threads: int) -> dict:
    """One verb in a fresh process: its wall seconds and peak memory above the process's baseline."""
    out_dir = folder / Path(out).parent
    cmd = [sys.executable, "-c", CHILD, verb, str(folder / src), str(out_dir), json.dumps(opts), str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode:
        sys.exit(f"error: {verb} failed at {folder}: {proc.stderr.strip().splitlines()[-1]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of log y against log x (the growth exponent: 1 = linear)."""
    lx, ly = [math.log(x) for x in xs], [math.log(max(y, 1e-6)) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", default="0.16,0.3,0.52,0.95,1.5")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    sizes = []
    with tempfile.TemporaryDirectory(prefix="ev-scaling-") as tmp:
        for w in (float(x) for x in args.widths.split(",")):
            folder = Path(tmp) / f"w{w}"
            folder.mkdir()
            params = make_dense(folder / "dense.pt", w)
            row = {"width_mult": w, "params": params, "fp32_mb": params * 4 / 2**20, "verbs": {}}
            for verb, src, out, opts in PIPELINE:
                r = run_verb(folder, verb, src, out, opts, args.threads)
                r["peak_x_fp32"] = r["peak_mb"] / row["fp32_mb"]
                row["verbs"][verb] = r
                print(f"{params / 1e6:6.2f} M  {verb:8s} {r['seconds']:6.2f} s  {r['peak_mb']:7.1f} MB "
                      f"({r['peak_x_fp32']:.2f}× fp32)", flush=True)
            sizes.append(row)
    params = [s["params"] for s in sizes]
    growth = {v: round(slope(params, [s["verbs"][v]["seconds"] for s in sizes]), 3) for v, *_ in PIPELINE}
    fp32 = [s["fp32_mb"] for s in sizes]
    marginal = {v: round((sizes[-1]["verbs"][v]["peak_mb"] - sizes[0]["verbs"][v]["peak_mb"]) / (fp32[-1] - fp32[0]), 3)
                for v, *_ in PIPELINE}
    big = sizes[-1]["verbs"]["pack"]
    save("scaling", {"model": "resnet18 (width_mult varies), 10 classes, 32² inputs, random weights",
                     "threads": args.threads, "sizes": sizes, "growth_exponent": growth,
                     "marginal_memory_x_fp32": marginal,
                     "pack_largest": {"params": sizes[-1]["params"], "seconds": big["seconds"],
                                      "peak_x_fp32": big["peak_x_fp32"],
                                      "meets_target": big["seconds"] <= 5 and big["peak_x_fp32"] <= 2}})


if __name__ == "__main__":
    main()
