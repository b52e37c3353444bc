"""``edgevision bench``: one table, one row per artifact × engine × precision × thread count.

Each row gives accuracy on the data, size on disk, params, MACs, latency p50/p90 at batch 1, throughput at a
larger batch, the achieved GMAC/s and its fraction of this machine's peak (measured in the same run with a
large GEMM on the same thread count, see :mod:`.peak`). Engines: torch eager (fp32, optionally bf16 compute),
onnxruntime, OpenCV ``cv2.dnn``, OpenVINO, LiteRT and ExecuTorch (their extras); a ``.pt`` artifact is exported
to ONNX on the fly for onnxruntime, cv2 and OpenVINO, and converted to an fp32 ``.tflite`` / ``.pte`` for the
on-device runtimes when their converters are installed; an ``.onnx`` file (int8 QDQ included) runs in OpenVINO as
well, and an OpenVINO ``.xml``, a ``.tflite`` or a ``.pte`` runs in its own engine only, at its precision.

Latency is measured in interleaved rounds (every runner of a thread count gets a slice of the budget per
round) and the pooled median is quoted, so background load hits every row alike and ratios within one table
are fair. Ratios are given against the first artifact on the same engine, against the fp32 file of the
same model on the same engine, and against onnxruntime fp32 of the same model (``vs_ort_fp32``); the fastest row
per model, precision and thread count is marked (``fastest``).
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..artifacts import Artifact, load_artifact
from ..config import dump
from ..configs.bench import BenchConfig
from ..data import BatchLoader, BatchTransform
from ..deploy import openvino as ovx
from ..deploy import runtimes
from ..deploy.export import cv2_compatible, cv2_outputs
from ..deploy.foreign import FOREIGN_ARCH
from ..deploy.onnx import OnnxModule, cv2_net, cv2_run, export_onnx, ort_session, run_session
from ..deploy.onnxstats import onnx_macs, onnx_params
from ..deploy.runtimes import FileRuntime
from ..errors import ConfigError, DataError, EdgevisionError
from ..models.base import build_from_spec, count_params
from ..models.complexity import count_macs
from ..runs import RunDir, machine, make_card
from ..stages import StageResult, run_stage, stage
from ..tasks import build_task
from ..train.evaluate import data_for
from ..train.objects import OBJECT_OPTIONS, module_input
from ..train.trainer import evaluate_model
from ..utils.io import write_json
from ..utils.progress import console
from ..utils.threads import compute_threads
from ..utils.timing import measure, ratio_stats
from .peak import peak_gmacs


@dataclass
class Target:
    """One artifact on one engine at one precision: how to run it and what it is."""

    label: str
    artifact: Artifact
    engine: str
    precision: str
    file: Path
    model: nn.Module  # for accuracy: a torch module, or an ONNX/cv2 wrapper
    make: Callable[[int], Callable[[np.ndarray], Any]]  # threads -> runner(x)
    error: str | None = None


class Cv2Module(nn.Module):
    """Runs an ONNX file in cv2.dnn behind the module interface (for accuracy)."""

    def __init__(self, path: Path) -> None:
        super().__init__()

        self.net = cv2_net(path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:

        return torch.from_numpy(np.array(cv2_run(self.net, x.numpy())))


class Bf16Module(nn.Module):
    """A bf16, channels-last copy of a model that takes and returns fp32 (what bf16 compute costs)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()

        self.inner = copy.deepcopy(model).to(torch.bfloat16).to(memory_format=torch.channels_last)
        self.eval()  # inference only: evaluate_model restores this flag afterwards

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(torch.bfloat16)
        x = x.contiguous(memory_format=torch.channels_last) if x.ndim == 4 else x
        out = self.inner(x)
        return out.float() if isinstance(out, torch.Tensor) else tuple(o.float() for o in out)


# ---------------------------------------------------------------------------------------------- targets
def _torch_runner(model: nn.Module) -> Callable[[int], Callable[[np.ndarray], Any]]:
    def make(threads: int) -> Callable[[np.ndarray], Any]:
        def run(x: np.ndarray) -> Any:
            with torch.inference_mode():
                return model(torch.from_numpy(x))
        return run
    return make


def _ort_runner(path: Path) -> Callable[[int], Callable[[np.ndarray], Any]]:
    def make(threads: int) -> Callable[[np.ndarray], Any]:
        s = ort_session(path, threads)
        return lambda x: run_session(s, x)
    return make


def _cv2_runner(path: Path) -> Callable[[int], Callable[[np.ndarray], Any]]:
    def make(threads: int) -> Callable[[np.ndarray], Any]:
        net = cv2_net(path, threads)
        return lambda x: cv2_run(net, x)
    return make


def _ov_runner(path: Path, precision: str) -> Callable[[int], Callable[[np.ndarray], Any]]:
    def make(threads: int) -> Callable[[np.ndarray], Any]:
        return ovx.runner(path, threads, precision)
    return make


def _ov_target(art: Artifact, label: str, path: Path, precision: str) -> Target:
    """OpenVINO on an IR or an ONNX file (which it reads directly); a graph it rejects is the row's error."""
    t = Target(label, art, "openvino", precision, path, nn.Identity(), _ov_runner(path, precision))
    try:
        ovx.compile_model(path, 1, precision)
        t.model = ovx.OpenVinoModule(path, precision)
    except EdgevisionError as e:
        t.error = str(e)
    return t


def _file_target(rt: FileRuntime, art: Artifact, label: str, path: Path | None, precision: str,
                 error: str | None = None) -> Target:
    """An on-device runtime (LiteRT, ExecuTorch) on its file (an exported one, or the model converted on the fly)."""
    if path is None:
        return Target(label, art, rt.engine, precision, art.path, nn.Identity(), lambda n: None, error)
    return Target(label, art, rt.engine, precision, path, rt.module(path), lambda n: rt.runner(path, n))


def _converted(rt: FileRuntime, art: Artifact, label: str, cfg: BenchConfig, tmp: Path) -> list[Target]:
    """A torch artifact converted to an fp32 file of ``rt``; without its converter, an error row when the engine
    was asked for by name (the default engine list does not ask for what cannot be built here)."""
    if isinstance(art.model, OnnxModule) or not rt.can_convert():
        if "engines" not in cfg.model_fields_set:
            return []
        why = f"an .onnx file does not convert to {rt.suffix}" if isinstance(art.model, OnnxModule) else \
            rt.convert_hint()
        return [_file_target(rt, art, label, None, "fp32", why)]
    path = tmp / f"{len(list(tmp.iterdir()))}-{art.path.stem}{rt.suffix}"
    try:
        rt.convert(art.model, art.input_shape, path)
    except EdgevisionError as e:
        return [_file_target(rt, art, label, None, "fp32", str(e))]
    return [_file_target(rt, art, label, path, "fp32")]


def targets(art: Artifact, label: str, cfg: BenchConfig, tmp: Path) -> list[Target]:
    """Every (engine, precision) this artifact can run on, exporting a .pt to ONNX (or converting it for an
    on-device runtime) when needed."""

    precision = str(art.meta.get("precision", "fp32"))
    if art.path.suffix == ".xml":
        return [_ov_target(art, label, art.path, precision)] if "openvino" in cfg.engines else []
    if rt := runtimes.for_suffix(art.path.suffix):
        return [_file_target(rt, art, label, art.path, precision)] if rt.engine in cfg.engines else []
    out: list[Target] = []
    is_onnx = isinstance(art.model, OnnxModule)
    for rt in runtimes.RUNTIMES.values():
        if rt.engine in cfg.engines:
            out += _converted(rt, art, label, cfg, tmp)
    if not is_onnx and "torch" in cfg.engines:
        out.append(Target(label, art, "torch", precision, art.path, art.model, _torch_runner(art.model)))
        if cfg.torch_bf16:
            bf = Bf16Module(art.model)
            out.append(Target(label, art, "torch", "bf16 compute", art.path, bf, _torch_runner(bf)))
    onnx_file = art.path if is_onnx else None
    if not is_onnx and {"onnxruntime", "cv2", "openvino"} & set(cfg.engines):
        onnx_file = export_onnx(art.model, tmp / f"{len(list(tmp.iterdir()))}-{art.path.stem}.onnx", art.input_shape)
        cv2_compatible(onnx_file)
    if onnx_file is None:
        return out
    if "onnxruntime" in cfg.engines:
        out.append(Target(label, art, "onnxruntime", precision, onnx_file, OnnxModule(onnx_file),
                          _ort_runner(onnx_file)))
    if "cv2" in cfg.engines:
        probe = np.zeros((max(2, cfg.batch), *art.input_shape), np.float32)  # batch > 1: some graphs run at 1 only
        _, err = cv2_outputs(onnx_file, probe)  # in a child process: cv2 may abort on some graphs
        t = Target(label, art, "cv2", precision, onnx_file, nn.Identity(), _cv2_runner(onnx_file), err)
        if err is None:
            t.model = Cv2Module(onnx_file)
        out.append(t)
    if "openvino" in cfg.engines:
        out.append(_ov_target(art, label, onnx_file, precision))
    return out


# ---------------------------------------------------------------------------------------------- measuring
def _accuracy(t: Target, cfg: BenchConfig, cache: dict[str, Any]) -> tuple[str, float | None, dict[str, Any]]:
    """(primary metric name, value, all metrics) of a target on the configured split (data loaded once)."""
    task = build_task(t.artifact.task)
    key = json.dumps([t.artifact.meta.get("data"), t.artifact.preprocess, task.name], sort_keys=True, default=str)
    if key not in cache:
        try:
            cache[key] = data_for(t.artifact, cfg.data, task.name)
        except DataError:
            cache[key] = None
    if cache[key] is None:
        return task.primary, None, {}
    data_cfg, splits = cache[key]
    ds = splits.split(cfg.split)
    if cfg.limit and len(ds) > cfg.limit:
        ds = ds.subset(np.arange(cfg.limit)) if hasattr(ds, "subset") else ds
    loader = BatchLoader(ds, 64, shuffle=False, transform=BatchTransform(splits.mean, splits.std),
                         num_workers=data_cfg.num_workers)
    m = evaluate_model(t.model, task, loader)
    v = m.get(task.primary)
    return task.primary, float(v) if isinstance(v, int | float) else None, m


_threads = compute_threads


def time_targets(ts: list[Target], threads: int, cfg: BenchConfig) -> list[dict[str, Any]]:
    """Interleaved rounds over the runnable targets; pooled p50/p90 at batch 1 and throughput at ``cfg.batch``."""
    live = [t for t in ts if t.error is None]
    pooled: dict[int, dict[str, list[float]]] = {id(t): {"b1": [], "bn": [], "rounds": []} for t in live}
    with _threads(threads):
        runners = {id(t): t.make(threads) for t in live}
        xs = {id(t): (np.random.default_rng(0).standard_normal((1, *t.artifact.input_shape), np.float32),
                      np.random.default_rng(1).standard_normal((cfg.batch, *t.artifact.input_shape), np.float32))
              for t in live}
        slice_s = cfg.budget_s / cfg.rounds
        for _ in range(cfg.rounds):
            for t in live:
                f, (x1, xb) = runners[id(t)], xs[id(t)]
                b1 = measure(lambda f=f, x=x1: f(x), budget_s=slice_s, min_runs=5, times=True)["times_ms"]
                pooled[id(t)]["b1"] += b1
                pooled[id(t)]["rounds"].append(float(np.median(b1)))
                pooled[id(t)]["bn"] += measure(lambda f=f, x=xb: f(x), warmup=1, min_runs=2, budget_s=slice_s,
                                               times=True)["times_ms"]
    out = []
    for t in ts:
        if t.error is not None:
            out.append({"error": t.error})
            continue
        b1, bn = np.asarray(pooled[id(t)]["b1"]), np.asarray(pooled[id(t)]["bn"])
        out.append({"p50_ms": float(np.median(b1)), "p90_ms": float(np.percentile(b1, 90)), "runs": len(b1),
                    "img_s": float(cfg.batch * 1000 / np.median(bn)), "round_p50_ms": pooled[id(t)]["rounds"]})
    return out


def _model_facts(art: Artifact) -> dict[str, Any]:
    """Params and MACs of the architecture an artifact records (of the graph itself for a foreign ONNX file)."""
    if art.arch.name == FOREIGN_ARCH:
        params, macs = onnx_params(art.path), onnx_macs(art.path, art.input_shape)
    else:
        model = build_from_spec(art.arch)
        params, macs = count_params(model), count_macs(model, art.input_shape)
    return {"params": params, "macs": macs, "input": "x".join(map(str, art.input_shape))}


def _row(t: Target, threads: int, timing: dict[str, Any], facts: dict[str, Any], acc: tuple, cfg: BenchConfig,
         peaks: dict[str, float] | None) -> dict[str, Any]:
    row = {"label": t.label, "artifact": str(t.artifact.path), "file": str(t.file), "engine": t.engine,
           "precision": t.precision, "threads": threads, "metric": acc[0], "accuracy": acc[1],
           "file_bytes": ovx.ir_bytes(t.file) if t.file.suffix == ".xml" else runtimes.file_bytes(t.file), **facts,
           "batch": cfg.batch}
    if "error" in timing:
        return {**row, "error": timing["error"]}
    row.update(p50_ms=round(timing["p50_ms"], 4), p90_ms=round(timing["p90_ms"], 4), img_s=round(timing["img_s"], 2),
               round_p50_ms=[round(v, 4) for v in timing["round_p50_ms"]])
    row["gmacs_b1"] = round(facts["macs"] / (timing["p50_ms"] * 1e6), 3)
    row["gmacs_batch"] = round(facts["macs"] * timing["img_s"] / 1e9, 3)
    if peaks:
        peak = peaks["int8" if t.precision == "int8" else "fp32"]
        row.update(peak_gmacs=peak, peak_fraction_b1=round(row["gmacs_b1"] / peak, 4),
                   peak_fraction_batch=round(row["gmacs_batch"] / peak, 4))
    return row


def add_ratios(rows: list[dict[str, Any]]) -> None:
    """``vs_first``: first artifact's p50 / this p50 (same engine, precision kind, threads);
    ``vs_fp32``: the same model's fp32 p50 on the same engine and threads / this p50."""
    first_label = rows[0]["label"] if rows else None
    for r in rows:
        if "p50_ms" not in r:
            continue
        base = next((b for b in rows if b["label"] == first_label and b["engine"] == r["engine"]
                     and b["threads"] == r["threads"] and "p50_ms" in b), None)
        if base:
            r["vs_first"] = round(base["p50_ms"] / r["p50_ms"], 3)
        fp32 = next((b for b in rows if b["engine"] == r["engine"] and b["threads"] == r["threads"]
                     and b["precision"] == "fp32" and b["params"] == r["params"] and b["macs"] == r["macs"]
                     and "p50_ms" in b), None)
        if fp32 and r["precision"] != "fp32":
            r["vs_fp32"] = round(fp32["p50_ms"] / r["p50_ms"], 3)
            if len(r["round_p50_ms"]) > 1:  # how much the ratio moved from round to round
                r["vs_fp32_spread"] = ratio_stats(fp32["round_p50_ms"], r["round_p50_ms"])
        ort = next((b for b in rows if b["engine"] == "onnxruntime" and b["precision"] == "fp32"
                    and _same_model(b, r) and "p50_ms" in b), None)
        if ort:
            r["vs_ort_fp32"] = round(ort["p50_ms"] / r["p50_ms"], 3)
    mark_fastest(rows)


def _same_model(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a["threads"] == b["threads"] and a["params"] == b["params"] and a["macs"] == b["macs"] \
        and a["input"] == b["input"]


def precision_kind(precision: str) -> str:
    """fp32 / bf16 / fp16 / int8: torch's "bf16 compute" and OpenVINO's bf16 hint are both bf16."""
    return next((k for k in ("int8", "bf16", "fp16") if k in precision), "fp32")


def mark_fastest(rows: list[dict[str, Any]]) -> None:
    """``fastest``: True on the quickest row (lowest p50) of each model × precision kind × thread count."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        if "p50_ms" in r:
            key = (r["params"], r["macs"], r["input"], r["threads"], precision_kind(r["precision"]))
            groups.setdefault(key, []).append(r)
    for g in groups.values():
        best = min(g, key=lambda r: r["p50_ms"])
        for r in g:
            r["fastest"] = r is best


def bench_artifacts(cfg: BenchConfig) -> dict[str, Any]:
    """Run the whole bench; returns the JSON-able result (``rows``, ``peak``, ``machine``)."""
    labels = cfg.labels or []
    rows, peaks = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        ts: list[Target] = []
        paths = [p for a in cfg.artifacts for p in (expand(a) if cfg.expand_exports else [a])]
        skipped = []
        for i, a in enumerate(paths):
            art = load_artifact(a, cfg.onnx_description() if Path(a).suffix == ".onnx" else None)
            got = targets(art, labels[i] if i < len(labels) else _label(art), cfg, Path(tmp))
            if not got:
                skipped.append(f"{art.path} ({_runs_in(art)})")
            ts += got
        if skipped:
            line = f"none of --engines {','.join(cfg.engines)} runs " + "; ".join(skipped)
            if not ts:
                raise ConfigError(f"bench: {line}")
            console.print(f"note: skipped: {line}", highlight=False, soft_wrap=True)
        data_cache: dict[str, Any] = {}
        accs = {id(t): _accuracy(t, cfg, data_cache) if t.error is None else ("", None, {}) for t in ts}
        facts = {id(t): _model_facts(t.artifact) for t in ts}
        for n in cfg.threads:
            peaks[n] = peak_gmacs(n) if cfg.peak else None
            console.print(f"bench: {len(ts)} targets on {n} thread(s)" + (
                f"; peak fp32 {peaks[n]['fp32']} GMAC/s, int8 {peaks[n]['int8']} GMAC/s" if peaks[n] else ""),
                highlight=False)
            for t, timing in zip(ts, time_targets(ts, n, cfg)):
                rows.append(_row(t, n, timing, facts[id(t)], accs[id(t)], cfg, peaks[n]))
    add_ratios(rows)
    return {"rows": rows, "verdicts": verdicts(rows), "peak_gmacs": {str(k): v for k, v in peaks.items()},
            "machine": machine(), "split": cfg.split, "batch": cfg.batch, "rounds": cfg.rounds,
            "loadavg": [round(v, 2) for v in os.getloadavg()]}


def verdicts(rows: list[dict[str, Any]]) -> list[str]:
    """One plain sentence per reduced-precision row: is it faster than fp32 on the same engine, and at what cost."""
    out = []
    for r in rows:
        if "vs_fp32" not in r:
            continue
        fp32 = next(b for b in rows if b["engine"] == r["engine"] and b["threads"] == r["threads"]
                    and b["precision"] == "fp32" and b["params"] == r["params"] and "p50_ms" in b)
        speed = (f"{r['vs_fp32']:.2f}× faster than" if r["vs_fp32"] > 1.02 else
                 f"NOT faster than ({r['vs_fp32']:.2f}×)")
        acc = ""
        if r.get("accuracy") is not None and fp32.get("accuracy") is not None:
            acc = f"; {r['metric']} {fp32['accuracy']:.4f} → {r['accuracy']:.4f}"
        sp = r.get("vs_fp32_spread")
        rounds = f", {len(r['round_p50_ms'])} interleaved rounds" + (
            f" (per-round {sp['min']:.2f}–{sp['max']:.2f}×)" if sp else "")
        out.append(f"{r['label']} ({r['precision']}) is {speed} fp32 on {r['engine']}, {r['threads']} thread(s), "
                   f"batch 1{rounds}{acc}")
    return out


def expand(path: str | Path) -> list[str | Path]:
    """An export run (its folder or main file) stands for all the files it wrote, fp32 first."""
    p = Path(path)
    folder = p if p.is_dir() else p.parent
    card = RunDir(folder).card() if (folder / "card.json").exists() else {}
    if card.get("stage") != "export" or not card.get("files") or (p.is_file() and card.get("artifact") != p.name):
        return [path]
    files = [folder / f["file"] for f in card["files"]]
    return [f for f in files if f.suffix in (".onnx", ".xml", *runtimes.suffixes())] or [path]


def _runs_in(art: Artifact) -> str:
    """Which engines run an artifact's file kind, for the skip note."""
    if rt := runtimes.for_suffix(art.path.suffix):
        return f"a {rt.suffix} runs in {rt.engine}"
    if art.path.suffix == ".xml":
        return "an .xml runs in openvino"
    return "an .onnx runs in onnxruntime, cv2 and openvino" if art.path.suffix == ".onnx" else \
        "a torch artifact runs in every engine"


def _label(art: Artifact) -> str:
    p = art.path
    return f"{p.parent.name}/{p.name}" if p.parent.name else p.name


@stage("bench", BenchConfig, input_field="artifacts", summary="accuracy, size, MACs, latency, GMAC/s per engine")
def run_bench(cfg: BenchConfig, out: Path) -> StageResult:
    res = bench_artifacts(cfg)
    run = RunDir(out).mkdir()
    run.write_config(dump(cfg))
    write_json(run.path / "bench.json", res)
    card = make_card("bench", parent=None, artifacts=cfg.artifacts, rows=len(res["rows"]),
                     threads=cfg.threads, peak_gmacs=res["peak_gmacs"])
    run.write_card(card)
    return StageResult(run.path, None, {**card, "bench": res})


def format_table(res: dict[str, Any]) -> str:
    """The bench table as fixed-width text."""
    head = (f"{'label':<26}{'engine':<13}{'precision':<13}{'thr':>3} {'metric':>9} {'KB':>8} {'params':>9} "
            f"{'MMACs':>8} {'p50 ms':>8} {'p90 ms':>8} {'img/s':>8} {'GMAC/s':>7} {'%peak':>6} {'×first':>6} "
            f"{'×ort32':>6}")
    lines = [head]
    for r in res["rows"]:
        acc = f"{r['accuracy']:.4f}" if isinstance(r.get("accuracy"), float) else "-"
        engine = r["engine"] + ("*" if r.get("fastest") else "")
        base = (f"{r['label'][:25]:<26}{engine:<13}{r['precision'][:12]:<13}{r['threads']:>3} {acc:>9} "
                f"{r['file_bytes'] / 1024:>8.1f} {r['params']:>9,} {r['macs'] / 1e6:>8.2f} ")
        if "error" in r:
            lines.append(base + f"error: {r['error'][:60]}")
            continue
        frac = f"{100 * r['peak_fraction_b1']:.1f}" if "peak_fraction_b1" in r else "-"
        first, ort = (f"{r[k]:.2f}" if k in r else "-" for k in ("vs_first", "vs_ort_fp32"))
        lines.append(base + f"{r['p50_ms']:>8.3f} {r['p90_ms']:>8.3f} {r['img_s']:>8.1f} {r['gmacs_b1']:>7.2f} "
                     f"{frac:>6} {first:>6} {ort:>6}")
    peaks = "; ".join(f"{k} thr: fp32 {v['fp32']}, int8 {v['int8']} GMAC/s" for k, v in res["peak_gmacs"].items()
                      if v)
    lines.append("* fastest of its model, precision and thread count; ×first = the first artifact's p50 on the same "
                 "engine / this p50; ×ort32 = onnxruntime fp32 p50 of the same model / this p50")
    lines += res.get("verdicts", [])
    return "\n".join(lines) + (f"\npeak (large GEMM, same run): {peaks}" if peaks else "")


def bench(artifacts: list[str | Path | nn.Module] | str | Path | nn.Module, out: str | Path | None = None,
          **options: Any) -> StageResult:
    """Benchmark artifacts (``edgevision bench``); ``result.card['bench']`` holds the table.

    Example:
        >>> edgevision.bench(["runs/qs/train", "runs/qs/export/model.int8.onnx"], threads=[1, 2])
    """
    arts = [artifacts] if isinstance(artifacts, str | Path | nn.Module) else list(artifacts)
    given = {k: options[k] for k in OBJECT_OPTIONS if k in options}  # for model objects among the artifacts
    for i, a in enumerate(arts):
        arts[i], out, _ = module_input(a, "bench", out, given, tag=f"input{i}")
    options = {k: v for k, v in options.items() if k not in given}
    return run_stage("bench", {"artifacts": [str(a) for a in arts], **options}, out)


def read_bench(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def describe(res: StageResult) -> str:
    """The bench table and where it was saved (``edgevision bench``'s output)."""
    return f"{format_table(res.card['bench'])}\nsaved {res.run_dir / 'bench.json'}"
