"""Foreign architectures (timm, torchvision) through edgevision: shrink, export with parity, int8, latency.

For each architecture (random weights: this measures structure and speed, not accuracy), at a small input and, for
timm ``mobilenetv3_small_100`` and torchvision ``resnet18``, at 224²:

1. build it, fill its norm layers' running statistics from a few training batches (:func:`settle_norms`), and
   save it as an edgevision artifact (``timm:NAME`` / ``torchvision:NAME`` references where the
   model registry takes them, else the architecture registered in this process);
2. ``shrink --macs 0.5 --epochs 0`` (params and MACs before / after, or the one-line reason it stopped);
3. ``export`` fp32 ONNX of the dense and the shrunk model, each with its parity check;
4. ``quantize`` int8 (MinMax, no sensitivity exclusion, no QAT; the agreement is reported, not required, because
   random weights make top-1 agreement a coin toss between near-equal logits);
5. batch-1, one-thread onnxruntime latency of dense fp32, shrunk fp32 and int8 in interleaved rounds in one run
   (:func:`edgevision.deploy.int8.stem.latency_pair`), as ratios against dense fp32.

``passed_architectures`` counts those that went through shrink, export parity and int8. Runs in the zoo venv::

    make install-zoo
    flock /tmp/edgevision-bench.lock .venv-zoo/bin/python benchmarks/own_models.py
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

import edgevision as ev
from _common import save
from edgevision.artifacts import load_artifact, save_model
from edgevision.data import BatchTransform, DataConfig, load_data
from edgevision.deploy.int8.stem import latency_pair
from edgevision.errors import EdgevisionError
from edgevision.models import MODELS, build_model, count_params
from edgevision.models.complexity import count_macs

TIMM = ("mobilenetv3_small_050", "efficientnet_b0", "resnet10t", "regnetx_002", "ghostnet_050", "rexnet_100",
        "mnasnet_050", "lcnet_050", "mixnet_s", "tinynet_e")
TORCHVISION = ("mobilenet_v2", "mobilenet_v3_small", "shufflenet_v2_x0_5", "squeezenet1_1", "resnet18")
SMALL = 64
CASES = ([(f"timm:{n}", SMALL) for n in TIMM] + [(f"torchvision:{n}", SMALL) for n in TORCHVISION]
         + [("timm:mobilenetv3_small_100", 224), ("torchvision:resnet18", 224)])
CLASSES = 4
IMAGENET = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


def _factory(ref: str):
    lib, name = ref.split(":", 1)

    def make(num_classes: int = CLASSES) -> torch.nn.Module:
        if lib == "timm":
            import timm

            return timm.create_model(name, pretrained=False, num_classes=num_classes)
        import torchvision

        return torchvision.models.get_model(name, weights=None, num_classes=num_classes)
    return make


def build(ref: str, size: int) -> torch.nn.Module:
    """The architecture through edgevision's model references, or registered here when they are not available."""
    torch.manual_seed(0)
    try:
        return build_model(ref, num_classes=CLASSES).eval()
    except EdgevisionError:
        name = "zoo." + ref.replace(":", ".")
        if name not in MODELS:
            MODELS.register(name, _factory(ref), default_input=(3, size, size), family="zoo")
        return build_model(name, num_classes=CLASSES).eval()


def settle_norms(model: torch.nn.Module, size: int, batches: int = 4) -> torch.nn.Module:
    """Fill the norm layers' running statistics from a few batches of the benchmark's training images, as training
    would.

    With the statistics of a fresh init (mean 0, variance 1) the activations of random weights shrink layer by layer
    until they are denormal floats, which some kernels run many times slower, so latency ratios would time that, not
    the architecture; statistics of other inputs (noise) let them grow to ~1e4 on the real images instead."""
    splits = load_data(DataConfig.model_validate(_data(size)), "classification")
    tf = BatchTransform(splits.mean, splits.std)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # a cumulative average over the batches
    model.train()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for _ in range(batches):
            idx = torch.randint(0, len(splits.train), (16,), generator=gen)
            model(tf(dict(splits.train.get_batch(idx)), None)["image"])
    return model.eval()


def _data(size: int) -> dict[str, Any]:
    return {"source": "synthetic:shapes", "input_size": size, "mean": IMAGENET["mean"], "std": IMAGENET["std"],
            "options": {"num_classes": CLASSES, "n_train": 64, "n_val": 32, "n_test": 32}}


def _facts(path: Path, size: int) -> dict[str, int]:
    model = load_artifact(path).model
    return {"params": count_params(model), "macs": count_macs(model, (3, size, size))}


def _step(row: dict[str, Any], key: str, fn) -> Any:
    """Run one step; its one-line error (if any) goes into the row instead of stopping the benchmark."""
    t0 = time.perf_counter()
    try:
        out = fn()
    except Exception as e:  # a foreign architecture may stop any step: that is the finding
        row[key] = {"error": str(e).splitlines()[0][:600] if str(e) else type(e).__name__}
        return None
    row.setdefault(key, {})["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def run_case(ref: str, size: int, work: Path, budget: float) -> dict[str, Any]:
    data = _data(size)
    row: dict[str, Any] = {"architecture": ref, "input": [3, size, size]}
    model = settle_norms(build(ref, size), size)
    pre = {"input_size": [size, size], "channels": 3, **IMAGENET, "resize": "stretch", "color": "RGB",
           "scale": 1 / 255}
    dense = save_model(work / "dense.pt", model, task={"name": "classification", "class_names": list("abcd")},
                       preprocess=pre, meta={"data": data})
    row["dense"] = _facts(dense, size)
    shrunk = _step(row, "shrink", lambda: ev.shrink(dense, out=work / "shrink", macs=0.5, epochs=0).artifact)
    if shrunk is not None:
        row["shrink"].update(_facts(shrunk, size))
        row["shrink"]["macs_removed"] = round(1 - row["shrink"]["macs"] / row["dense"]["macs"], 4)
    files = {}
    for key, src in (("export", dense), ("export_shrunk", shrunk)):
        if src is None:
            continue
        res = _step(row, key, lambda s=src, k=key: ev.export(s, out=work / k, engines=["onnxruntime"]))
        if res is not None:
            card = json.loads((work / key / "card.json").read_text())
            check = card["files"][0]["onnxruntime"]
            row[key].update(parity=check["pass"], max_rel_err=check["max_rel_err"], max_abs_err=check["max_abs_err"])
            files["shrunk" if key == "export_shrunk" else "fp32"] = res.artifact
    q = _step(row, "int8", lambda: ev.quantize(dense, out=work / "q", calib_samples=32, holdout=32, qat="off",
                                                 auto_exclude=False, min_agreement=0.0, budget_s=budget))
    if q is not None:
        rep = json.loads((work / "q" / "quantize.json").read_text())
        row["int8"].update(agreement=rep["parity"]["agreement"], quantize_speedup=rep["speedup"],
                           stem=rep["stem"].get("float"))
        files["int8"] = q.artifact
    if "fp32" in files:
        timed = latency_pair({k: files[k] for k in ("fp32", "shrunk", "int8") if k in files}, (3, size, size), 1,
                             budget)
        row["latency_ms"] = {k: round(v["p50_ms"], 4) for k, v in timed["latency"].items()}
        row["speedup_vs_fp32"] = {k: round(v, 3) for k, v in timed["speedup"].items() if k != "fp32"}
        row["rounds"] = timed["rounds"]
    row["passed"] = bool(shrunk is not None and row.get("export", {}).get("parity") and "int8" in files)
    return row


def _row_cells(r: dict[str, Any]) -> list[str]:
    sh, ex, q8, sp = r.get("shrink", {}), r.get("export", {}), r.get("int8", {}), r.get("speedup_vs_fp32", {})
    why = "; ".join(f"{k}: {r[k]['error']}" for k in ("shrink", "export", "int8") if "error" in r.get(k, {}))
    removed = "—" if "error" in sh or "macs_removed" not in sh else f"{sh['macs_removed']:.0%}"
    parity = "—" if "error" in ex or "parity" not in ex else f"{ex['parity']} ({ex['max_rel_err']:.1e})"
    agree = "—" if "error" in q8 or "agreement" not in q8 else f"{q8['agreement']:.2f}"
    return [f"`{r['architecture']}`", f"{r['input'][1]}²", f"{r['dense']['params']:,}", f"{r['dense']['macs']:,}",
            removed, parity, agree, str(sp.get("shrunk", "—")), str(sp.get("int8", "—")),
            "yes" if r["passed"] else "no", why.replace("|", "/")]


def table(result: dict[str, Any]) -> str:
    """The docs' markdown table (docs/zoo.md) from a result JSON."""
    head = ["architecture", "input", "params", "MACs", "shrink --macs 0.5: MACs removed",
            "export parity (max rel err)", "int8 agreement", "shrunk ×", "int8 ×", "passed", "why not"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_row_cells(r)) + " |" for r in result["rows"]]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="architecture references to run (default: all)")
    ap.add_argument("--budget", type=float, default=1.0, help="seconds per file in the first interleaved rounds")
    ap.add_argument("--out", default=None, help="result JSON (default benchmarks/results/own_models.json)")
    ap.add_argument("--table", action="store_true", help="print the docs table of the saved result and stop")
    args = ap.parse_args()
    if args.table:
        print(table(json.loads(Path(args.out or Path(__file__).parent / "results" / "own_models.json").read_text())))
        return
    torch.set_num_threads(1)
    rows: list[dict[str, Any]] = []
    cases = [(ref, size) for ref, size in CASES if not args.only or ref in args.only]
    for ref, size in cases:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            rows.append(run_case(ref, size, Path(tmp), args.budget))
            print(f"{ref} @{size}: {json.dumps({k: v for k, v in rows[-1].items() if k != 'architecture'})} "
                  f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
        _save(rows, args.out, done=len(rows) == len(cases))


def _save(rows: list[dict[str, Any]], out: str | None, done: bool) -> None:
    """Written after every architecture, so a long run leaves its finished rows (``complete`` says if all ran)."""
    small = [r for r in rows if r["input"][1] == SMALL]
    save("own_models", {"passed_architectures": sum(r["passed"] for r in small), "tested_architectures": len(small),
                        "complete": done, "threads": 1, "engine": "onnxruntime", "weights": "random (seeded)",
                        "load_average_1_5_15": [round(v, 2) for v in os.getloadavg()], "rows": rows}, out)


if __name__ == "__main__":
    main()
