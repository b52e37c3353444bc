"""``export --format best``: build every installed candidate, keep the fastest that passes parity and accuracy.

Candidates are the formats whose extra is installed: ``onnx`` (fp32 and int8 QDQ, run in onnxruntime),
``openvino`` (fp32 IR, int8 through NNCF, and bf16 compute where the CPU has bf16 units), ``tflite`` (fp32 and
full-integer int8, run in LiteRT's interpreter), ``executorch`` (fp32 and PT2E int8 with XNNPACK) and ``ncnn``
(fp32). Each file is checked as its format checks it; then

1. a file that failed its parity check is rejected (and removed), with the rule it missed;
2. every remaining file is evaluated on (the first :data:`~.ov_export.TEST_LIMIT` samples of) the test split, and a
   file whose primary metric is more than ``tolerance`` points below the torch fp32 model's is rejected;
3. the accepted files are timed at batch 1 in interleaved rounds in their engine (``utils.timing.interleaved``,
   one thread unless ``threads`` says otherwise), and the fastest wins.

The card (and ``export.json``) names the winner, its speed-up over onnxruntime fp32 and over the runner-up, and
every candidate with its latency, metric and, for the rejected ones, why. Only the winner's files stay in the folder.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from ..errors import EdgevisionError
from ..utils.progress import console
from ..utils.threads import compute_threads
from ..utils.timing import interleaved
from . import openvino as ovx
from . import runtimes
from .export import EXPORTERS, ExportFormat, ExportJob, remove_file
from .export_report import rejection_reason
from .onnx import OnnxModule, ort_session
from .ov_export import metric_on_test_split

CANDIDATES = ("onnx", "openvino", "tflite", "executorch", "ncnn")


def engine_of(file: str, fmt: str) -> str:
    """The engine that runs an exported file (or the files a format would have written)."""
    suffix = Path(file).suffix or EXPORTERS.get(fmt).suffix
    rt = runtimes.for_suffix(suffix)
    return rt.engine if rt else {".onnx": "onnxruntime", ".xml": "openvino"}.get(suffix, fmt)


def candidate_formats() -> list[str]:
    """The candidate formats whose extra is installed."""
    return [n for n in CANDIDATES if n in EXPORTERS and EXPORTERS.get(n).available()]


def build(job: ExportJob) -> list[dict[str, Any]]:
    """Every candidate file, checked by its format (failed ones are marked, not raised); one line per format as it
    starts and as it ends (a large model takes minutes per format)."""
    files = []
    names = candidate_formats()
    for i, name in enumerate(names, 1):
        say(f"best: building {name} ({i}/{len(names)}) …")
        t0 = time.perf_counter()
        made = _build_one(job, name)
        say(f"best: {name} built in {time.perf_counter() - t0:.1f} s: {_built(made)}")
        files += made
    return files


def say(text: str) -> None:
    console.print(text, highlight=False, soft_wrap=True)


def _build_one(job: ExportJob, name: str) -> list[dict[str, Any]]:
    """The files of one candidate format, or one entry naming its converter's refusal."""
    opts: dict[str, Any] = {"format": name, "int8": job.splits() is not None, "fp16": False, "bf16": False}
    if name == "onnx" and job.cfg.engines is None:
        opts["engines"] = ["onnxruntime"]
    if name == "openvino":
        opts["bf16"] = ovx.has_bf16()
    sub = ExportJob(job.cfg.model_copy(update=opts), job.art, job.run, job._splits, job._probe)
    try:
        return [{**f, "format": name} for f in EXPORTERS.get(name).fn(sub)]
    except EdgevisionError as e:  # a converter that rejects the model rules out its format, not the others
        suffix = EXPORTERS.get(name).suffix
        for p in job.run.path.glob(f"*{suffix}"):
            if p.resolve() != job.art.path.resolve():
                remove_file(job.run, p.name)
        return [{"file": f"({name})", "format": name, "precision": "-", "bytes": 0, "pass": False, "engines": [],
                 "build_error": str(e)}]


def _built(files: list[dict[str, Any]]) -> str:
    """``model.onnx, model.int8.onnx (parity failed)`` or ``not built (<why>)``, kept short for the progress line."""
    if len(files) == 1 and "build_error" in files[0]:
        return f"not built ({files[0]['build_error'][:120]})"
    return ", ".join(f["file"] + ("" if f["pass"] else " (parity failed)") for f in files)


def _module(path: Path, precision: str) -> nn.Module:
    if rt := runtimes.for_suffix(path.suffix):
        return rt.module(path)
    return ovx.OpenVinoModule(path, precision) if path.suffix == ".xml" else OnnxModule(path)


def _runner(path: Path, precision: str, threads: int):
    if path.suffix == ".xml":
        return ovx.runner(path, threads, precision)
    if rt := runtimes.for_suffix(path.suffix):
        return rt.runner(path, threads)
    s = ort_session(path, threads)
    name = s.get_inputs()[0].name
    return lambda x: s.run(None, {name: x})


def _metric(job: ExportJob, model: nn.Module) -> tuple[str, float] | None:
    r = metric_on_test_split(job, model)
    return None if r is None else (r[0], r[1])


def choose(job: ExportJob, files: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Accuracy gate, interleaved timing and the winner; returns the winner's file entries and the report."""
    cfg, run = job.cfg, job.run
    ref = _metric(job, job.model)
    cands = []
    for f in files:
        c = {"file": f["file"], "format": f["format"], "precision": f["precision"],
             "engine": engine_of(f["file"], f["format"]), "bytes": f["bytes"]}
        if "build_error" in f or not f["pass"]:
            c["rejected"] = rejection_reason(f)
        elif ref is not None:
            got = _metric(job, _module(run.path / f["file"], f["precision"]))
            c.update(metric=got[0], value=got[1], drop_points=round(100 * (ref[1] - got[1]), 4))
            if c["drop_points"] > cfg.tolerance:
                c["rejected"] = f"{got[0]} {got[1]:.4f} is {c['drop_points']:.2f} points below fp32 (tolerance " \
                                f"{cfg.tolerance:g})"
        cands.append(c)
    ok = [c for c in cands if "rejected" not in c]
    if not ok:
        for f in files:
            remove_file(run, f["file"])
        why = "; ".join(f"{c['file']}: {c['rejected']}" for c in cands)
        raise EdgevisionError(f"export --format best: no candidate passed ({why})")
    timing = _time(job, ok)
    for c in ok:
        c["p50_ms"] = timing["latency"][c["file"]]["p50_ms"]
    ok.sort(key=lambda c: c["p50_ms"])
    win = ok[0]
    base = next((c for c in cands if c["engine"] == "onnxruntime" and c["precision"] == "fp32" and "p50_ms" in c),
                None)
    report = {"winner": win["file"], "engine": win["engine"], "precision": win["precision"],
              "p50_ms": win["p50_ms"], "threads": _threads(cfg),
              "vs_ort_fp32": round(base["p50_ms"] / win["p50_ms"], 3) if base else None,
              "vs_runner_up": round(ok[1]["p50_ms"] / win["p50_ms"], 3) if len(ok) > 1 else None,
              "runner_up": ok[1]["file"] if len(ok) > 1 else None, "rounds": timing["rounds"],
              "reference": {"metric": ref[0], "value": ref[1]} if ref else None, "tolerance": cfg.tolerance,
              "candidates": cands}
    for f in files:
        if f["file"] != win["file"]:
            remove_file(run, f["file"])
    return [f for f in files if f["file"] == win["file"]], report


def _threads(cfg: Any) -> int:
    return int(cfg.threads or 1)


def _time(job: ExportJob, ok: list[dict[str, Any]]) -> dict[str, Any]:
    """Batch-1 p50 of every accepted file in interleaved rounds (the first accepted file is the baseline)."""
    n = _threads(job.cfg)
    x = np.random.default_rng(0).standard_normal((1, *job.shape), np.float32)
    with compute_threads(n):
        runners = {c["file"]: _runner(job.run.path / c["file"], c["precision"], n) for c in ok}
        return interleaved({k: (lambda f=f: f(x)) for k, f in runners.items()}, min_rounds=5, max_rounds=15,
                           round_s=0.1)


EXPORTERS.register("best", ExportFormat("", frozenset(), build, "the fastest installed candidate (onnx, openvino, "
                                        "tflite, executorch, ncnn) that passes parity and stays within --tolerance of "
                                        "fp32", choose=choose, settings=None))
