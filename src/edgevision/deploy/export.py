"""``edgevision export``: table-driven export, each file followed by a parity check.

:data:`EXPORTERS` maps a format name to its suffix, the precision options it supports, and the function that
writes it (``onnx`` and ``pt`` here; a new format adds its row). Every written file is checked against the
torch model on the same inputs (real hold-out samples when the artifact records its data, random ones
otherwise):

- fp32: ``max |file − torch| / max |torch| ≤ rtol`` (1e-4), relative to the output's scale (the absolute error is
  reported too);
- fp16 / bf16 weight storage and int8: top-1 agreement with the torch model ≥ ``min_agreement``
  (:data:`~edgevision.configs.deploy.MIN_AGREEMENT`, 0.99, the same bar as ``quantize``; the calibration samples
  come from the train split, the hold-out from val).

Export is all-or-nothing *per file*: a file that fails its check in any of its engines is deleted and named
(one line, exit 2), the card lists the files that passed and the rejected ones, and a re-export into the same
folder first removes every file of the previous one. ONNX files run in onnxruntime and, for fp32 and fp16, in
OpenCV's ``cv2.dnn`` (``engines`` chooses); the cv2 check runs in a child process because OpenCV can abort the
process on graphs it misreads. Each ``.onnx`` carries the preprocessing, task, class names and architecture spec
in its ``metadata_props``, so the file alone is enough to run it.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .._version import __version__
from ..artifacts import Artifact, load_artifact, save_model
from ..artifacts import resolve as resolve_artifact
from ..config import dump
from ..configs.deploy import ExportConfig
from ..data import DataSplits
from ..errors import ConfigError, DataError, EdgevisionError
from ..models.base import count_params, get_arch
from ..models.complexity import count_macs
from ..registry import Registry
from ..runs import RunDir, make_card
from ..stages import StageResult, run_stage, stage
from ..tasks import build_task
from ..train.evaluate import data_for
from ..train.objects import module_input
from ..utils.io import write_json
from ..utils.progress import console
from ..utils.text import one_line
from ..utils.timing import Phases
from .cv2fix import cv2_compatible
from .export_report import best_line, best_rejections, card_metrics, rejection_reason
from .int8 import cpu
from .int8 import graph as q
from .int8.stem import choose_stem
from .onnx import OnnxModule, export_onnx, write_metadata
from .onnxstats import onnx_macs, onnx_params

PRECISION_FLAGS = ("int8", "fp16", "bf16")


@dataclass(frozen=True)
class ExportFormat:
    """One row of the export table."""

    suffix: str
    options: frozenset[str]
    fn: Callable[[ExportJob], list[dict[str, Any]]]
    description: str = ""
    extra: str | None = None  # the optional extra it needs (`pip install 'edgevision[EXTRA]'`)
    available: Callable[[], bool] = lambda: True  # whether that extra is installed (without importing it)
    companions: tuple[str, ...] = ()  # suffixes of the files written beside each main file (an IR's .bin)
    onnx_input: bool = False  # converts an ONNX artifact (an edgevision export or a foreign file), not only torch
    # picks among the files ``fn`` wrote (``best``): returns the files kept and a report for the card
    choose: Callable[[ExportJob, list[dict[str, Any]]], tuple[list[dict[str, Any]], dict[str, Any]]] | None = None
    # the options it reads beyond COMMON_SETTINGS and its precision flags (None: every option, as ``best`` does)
    settings: frozenset[str] | None = frozenset()


COMMON_SETTINGS = frozenset({"artifact", "format", "holdout", "rtol", "min_agreement", "data", "threads"})
INT8_SETTINGS = frozenset({"calibration", "calib_samples", "per_channel", "reduce_range", "exclude", "stem",
                           "tolerance"})  # recorded only with --int8
ONNX_SETTINGS = frozenset({"opset", "dynamic_batch", "engines", "calibration", "calib_samples", "per_channel",
                           "reduce_range", "exclude", "stem"})

EXPORTERS: Registry = Registry("export format", builtins=("edgevision.deploy",), plural="exporters")


def onnx_formats() -> list[str]:
    """The formats that take an ONNX artifact as their input."""
    return [n for n in EXPORTERS.names() if EXPORTERS.get(n).onnx_input]


def export_format(name: str) -> ExportFormat:
    """The row of ``name``; an unknown name lists the installed formats and the missing ones (with their extra)."""
    if name in EXPORTERS:
        return EXPORTERS.get(name)
    rows = {n: EXPORTERS.get(n) for n in EXPORTERS.names()}
    have = [n for n, f in rows.items() if f.available()]
    missing = [f"{n} (pip install 'edgevision[{f.extra}]')" for n, f in rows.items() if not f.available()]
    raise ConfigError(f"unknown export format {name!r}; installed: {', '.join(have)}"
                      + (f"; missing: {', '.join(missing)}" if missing else ""))


def saved_config(cfg: ExportConfig) -> dict[str, Any]:
    """The resolved config as the run folder records it: the options the format reads (the common ones, its
    precision flags, its own settings, the int8 ones only with ``--int8``) and the foreign-ONNX description when
    one was given; the options of other formats (an ONNX opset in a ``.tflite`` export) are left out."""
    fmt, d = export_format(cfg.format), dump(cfg)
    if fmt.settings is None:
        return d
    keep = COMMON_SETTINGS | fmt.options | fmt.settings
    if not cfg.int8:
        keep -= INT8_SETTINGS
    described = set(cfg.onnx_description())
    return {k: v for k, v in d.items() if k in keep or k in described}


def remove_file(run: RunDir, name: str) -> list[str]:
    """Delete ``name`` in the run folder and its companion files (an IR's ``.bin``); the names deleted."""
    p = run.path / Path(name).name
    suffixes = {s for n in EXPORTERS.names() for f in [EXPORTERS.get(n)] if p.suffix == f.suffix
                for s in f.companions}
    gone = []
    for f in [p, *(p.with_suffix(s) for s in sorted(suffixes))]:
        if f.is_file():
            f.unlink()
            gone.append(f.name)
    return gone


@dataclass
class ExportJob:
    cfg: ExportConfig
    art: Artifact
    run: RunDir
    _splits: DataSplits | None = field(default=None, repr=False)
    _probe: tuple[np.ndarray, bool] | None = field(default=None, repr=False)

    @property
    def model(self) -> nn.Module:
        return self.art.model

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.art.input_shape

    def splits(self) -> DataSplits | None:
        """The artifact's data (or ``cfg.data``), or None when neither is known."""
        if self._splits is None and (self.cfg.data is not None or self.art.meta.get("data")):

            self._splits = data_for(self.art, self.cfg.data, build_task(self.art.task).name)[1]
        return self._splits

    def probe(self) -> tuple[np.ndarray, bool]:
        """Parity inputs: hold-out samples (val, else test) when data is known, else 8 random ones."""
        if self._probe is None:
            sp = self.splits()
            ds = None if sp is None else (sp.val if len(sp.val) else sp.test)
            if ds is not None and len(ds):
                self._probe = (q.sample_array(ds, sp, self.cfg.holdout), True)
            else:
                gen = torch.Generator().manual_seed(0)
                self._probe = (torch.randn(8, *self.shape, generator=gen).numpy(), False)
        return self._probe


def torch_outputs(model: nn.Module, x: np.ndarray, batch: int = 64) -> np.ndarray:
    model.eval()
    with torch.inference_mode():
        outs = [_first(model(torch.from_numpy(x[i:i + batch]))).float().numpy() for i in range(0, len(x), batch)]
    return np.concatenate(outs)


def _first(out: Any) -> torch.Tensor:
    return out[0] if isinstance(out, tuple | list) else out


def onnx_metadata(art: Artifact, model: nn.Module, precision: str, **extra: Any) -> dict[str, Any]:
    """What an exported file says about itself (stored in ``metadata_props`` under ``edgevision.*``)."""
    c, h, w = art.input_shape
    arch = art.arch if isinstance(model, OnnxModule) else get_arch(model)  # an ONNX input has no torch model
    foreign = {"foreign": True} if art.meta.get("foreign") else {}
    return {"format": "edgevision.onnx", "version": __version__, "precision": precision, **foreign,
            "arch": arch.to_dict(), "task": art.task, "preprocess": art.preprocess,
            "input": {"name": "input", "layout": "NCHW", "dtype": "float32", "shape": ["batch", c, h, w]},
            "meta": art.meta, "source": str(art.path), **extra}


# ---------------------------------------------------------------------------------------------- cv2.dnn
def cv2_outputs(path: str | Path, x: np.ndarray, timeout: float = 300) -> tuple[np.ndarray | None, str | None]:
    """Run ``path`` on ``x`` in cv2.dnn in a child process; (outputs, None) or (None, error text)."""
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "x.npy", np.ascontiguousarray(x, np.float32))
        script = Path(__file__).with_name("cv2check.py")  # run by path: the child imports only cv2 and numpy
        cmd = [sys.executable, str(script), str(path), f"{tmp}/x.npy", f"{tmp}/y.npy"]
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return None, f"cv2.dnn timed out after {timeout:.0f} s"
        if p.returncode != 0 or not (Path(tmp) / "y.npy").exists():
            lines = [s for s in (p.stderr or "").strip().splitlines() if s.strip()]
            why = one_line(lines[-1])[:200] if lines else f"exit status {p.returncode} (crashed)"
            return None, f"cv2.dnn failed: {why}"
        return np.load(Path(tmp) / "y.npy"), None


# ---------------------------------------------------------------------------------------------- checks
def check(path: Path, precision: str, x: np.ndarray, ref: np.ndarray, cfg: ExportConfig, mode: str
          ) -> dict[str, Any]:
    """Parity of ``path`` against ``ref`` in each engine of ``cfg.engines_for(precision)``: ``mode`` "float"
    (relative error) or "agreement" (top-1); ``pass`` is True only when every engine passes."""
    engines = cfg.engines_for(precision)
    res: dict[str, Any] = {"file": path.name, "precision": precision, "bytes": path.stat().st_size,
                           "samples": len(x), "engines": list(engines)}
    res["onnxruntime"] = score(q.run_onnx(path, x), ref, cfg, mode)
    if "cv2" in engines:
        n = min(len(x), 64)
        out, err = cv2_outputs(path, x[:n])
        res["cv2"] = {"pass": False, "error": err} if out is None else score(out, ref[:n], cfg, mode)
    res["pass"] = all(res[e]["pass"] for e in engines)
    return res


def errors(out: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    """Max absolute error and max relative error ``max |out − ref| / max |ref|`` (relative to the output's scale,
    so logits of ~500 and probabilities of ~1 are held to the same standard)."""
    if not out.size:
        return {"max_abs_err": 0.0, "max_rel_err": 0.0}
    err = float(np.abs(out - ref).max())
    return {"max_abs_err": err, "max_rel_err": err / max(float(np.abs(ref).max()), 1e-12)}


def score(out: np.ndarray, ref: np.ndarray, cfg: ExportConfig, mode: str) -> dict[str, Any]:
    """One engine's verdict: float files pass on ``max_rel_err ≤ rtol``, the others on ``agreement ≥
    min_agreement``; ``metric`` and ``threshold`` name the rule."""
    if out.shape != ref.shape:
        return {"pass": False, "error": f"output shape {out.shape} != torch {ref.shape}"}
    err = errors(out, ref)
    if mode == "float":
        return {**err, "metric": "max_rel_err", "threshold": cfg.rtol, "pass": err["max_rel_err"] <= cfg.rtol}
    return agreement_check(None, q.agreement(out, ref), len(out), cfg.min_agreement, **err)


def agreement_check(path: Path | None, agreement: float, samples: int, threshold: float, **extra: Any
                    ) -> dict[str, Any]:
    """The one agreement rule of reduced-precision files (``export`` and ``quantize``): pass iff
    ``agreement ≥ threshold`` (:data:`~edgevision.configs.deploy.MIN_AGREEMENT` by default)."""
    out = {"agreement": agreement, **extra, "metric": "agreement", "threshold": threshold, "samples": samples,
           "pass": agreement >= threshold}
    return out if path is None else {"file": path.name, **out}


def checked(f: dict[str, Any]) -> str:
    """``engine: metric value vs threshold on N samples`` for each engine a file passed in."""
    parts = []
    for eng in f["engines"]:
        r = f.get(eng) or {}
        if "metric" not in r:
            parts.append(eng)
            continue
        value = r[r["metric"]]
        text = f"max_rel_err {value:.2g} ≤ {r['threshold']:g}" if r["metric"] == "max_rel_err" else \
            f"{r['metric']} {value:.3f} ≥ {r['threshold']:g}"
        parts.append(f"{eng}: {text}" + (f" on {r['samples']} samples" if r.get("samples") else ""))
    return "; ".join(parts)


def parity_failure(path: Path, res: dict[str, Any], engine: str = "onnxruntime") -> str:
    """One line: the file, the engine, the metric against its threshold, and that the file was removed."""
    if res.get("error"):
        hint = " (--engines onnxruntime checks it in onnxruntime only)" if engine == "cv2" else ""
        return f"{path}: parity check failed in {engine}: {res['error']}; the file was removed{hint}"
    metric, value, thr = res["metric"], res[res["metric"]], res["threshold"]
    rel = "<" if metric == "agreement" else ">"
    extra = f" (max |Δ| {res['max_abs_err']:.3g})" if metric == "max_rel_err" else ""
    return (f"{path}: parity check failed in {engine}: {metric} {value:.6g} {rel} threshold {thr:g}{extra}; the "
            f"file was removed")


# ---------------------------------------------------------------------------------------------- formats
def _onnx(job: ExportJob) -> list[dict[str, Any]]:
    cfg, model = job.cfg, job.model
    x, real = job.probe()
    ref = torch_outputs(model, x)
    fp32 = job.run.path / "model.onnx"
    export_onnx(model, fp32, job.shape, cfg.opset, cfg.dynamic_batch)
    rewritten = cv2_compatible(fp32)
    write_metadata(fp32, onnx_metadata(job.art, model, "fp32", cv2_rewrites=rewritten))
    files = [check(fp32, "fp32", x, ref, cfg, "float")]
    for p in ("fp16", "bf16"):
        if getattr(cfg, p):
            path = q.onnx_weight_storage(fp32, job.run.path / f"model.{p}.onnx", p)
            write_metadata(path, onnx_metadata(job.art, model, p, storage=f"{p} weights, fp32 compute"))
            files.append(check(path, p, x, ref, cfg, "agreement"))
    if cfg.int8:
        files.append(_int8(job, fp32, x, ref, real))
    return files


def _int8(job: ExportJob, fp32: Path, x: np.ndarray, ref: np.ndarray, real: bool) -> dict[str, Any]:
    """The int8 file. With ``reduce_range`` auto, a file that misses the agreement bar is quantized once more with
    the other weight width (7 ↔ 8 bits; :mod:`.int8.cpu`) and the better of the two is kept."""
    cfg, sp = job.cfg, job.splits()
    if sp is None or not real or not len(sp.train):
        raise DataError(f"{job.art.path}: int8 export needs calibration data; the artifact records none, pass --data")
    calib = q.sample_array(sp.train, sp, cfg.calib_samples)
    path = job.run.path / "model.int8.onnx"
    seven = cpu.reduce_range(cfg.reduce_range)
    with tempfile.TemporaryDirectory() as tmp:
        prepared = q.prepare_for_int8(fp32, Path(tmp) / "prepared.onnx")
        excluded = q.nodes_matching(prepared, cfg.exclude)
        cache = Path(tmp) / "ranges.json"

        def quantize(dst: Path, exclude: list[str], reduce: bool = seven) -> Path:
            return q.quantize_int8(prepared, dst, calib, method=cfg.calibration, per_channel=cfg.per_channel,
                                   exclude_nodes=exclude, cache=cache, reduce_range=reduce)

        stem, stem_report = choose_stem(prepared, quantize, excluded, cfg.stem, job.shape)
        excluded += stem
        quantize(path, excluded)
        res = check(path, "int8", x, ref, cfg, "agreement")
        if not res["pass"] and cfg.reduce_range == "auto":
            other = quantize(Path(tmp) / "other.int8.onnx", excluded, not seven)
            alt = check(other, "int8", x, ref, cfg, "agreement")
            if alt["onnxruntime"]["agreement"] > res["onnxruntime"]["agreement"]:
                path.write_bytes(other.read_bytes())
                res, seven = {**alt, "file": path.name}, not seven
    write_metadata(path, onnx_metadata(job.art, job.model, "int8", calibration=cfg.calibration,
                                       calib_samples=len(calib), per_channel=cfg.per_channel, excluded=excluded,
                                       weight_bits=7 if seven else 8))
    return {**res, "bytes": path.stat().st_size, "calibration": cfg.calibration, "excluded": excluded,
            "stem": stem_report, "weight_bits": 7 if seven else 8}


def _pt(job: ExportJob) -> list[dict[str, Any]]:
    cfg = job.cfg
    precision = "fp16" if cfg.fp16 else "bf16" if cfg.bf16 else "fp32"
    model = q.half_storage(job.model, precision) if precision != "fp32" else job.model
    path = save_model(job.run.path / "model.pt", model, task=job.art.task, preprocess=job.art.preprocess,
                      meta={**job.art.meta, "precision": precision})
    x, _ = job.probe()
    want = torch_outputs(q.rounded_copy(job.model, precision) if precision != "fp32" else job.model, x)
    got = torch_outputs(load_artifact(path).model, x)
    res = score(got, want, cfg, "float")
    return [{"file": path.name, "precision": precision, "bytes": path.stat().st_size, "samples": len(x),
             "engines": ["torch"], "torch": res, "pass": res["pass"]}]


EXPORTERS.register("onnx", ExportFormat(".onnx", frozenset(PRECISION_FLAGS), _onnx,
                                        "ONNX (opset ≥ 17, dynamic batch) for onnxruntime and cv2.dnn",
                                        settings=ONNX_SETTINGS))
EXPORTERS.register("pt", ExportFormat(".pt", frozenset({"fp16", "bf16"}), _pt,
                                      "edgevision .pt (spec + state_dict) with 16-bit weight storage"))


# ---------------------------------------------------------------------------------------------- the stage
def _failure_lines(run: RunDir, files: list[dict[str, Any]]) -> list[str]:
    """One line per failed file: its first failing engine, the metric, the threshold."""
    out = []
    for f in files:
        if f["pass"]:
            continue
        eng = next(e for e in f["engines"] if not f[e]["pass"])
        out.append(parity_failure(run.path / f["file"], f[eng], eng))
    return out


def clear_previous(run: RunDir, keep: Path) -> list[str]:
    """Delete the files of an earlier export into this folder (named in its export.json, or any ``model.*`` of a
    known suffix), so no stale or failed file outlives a re-export; never ``keep`` (the input artifact)."""
    old = run.path / "export.json"
    names: set[str] = set()
    if old.is_file():
        with contextlib.suppress(ValueError, OSError):
            d = json.loads(old.read_text())
            names |= {f["file"] for f in d.get("files", []) + d.get("rejected", []) if isinstance(f, dict)}
    suffixes = {fmt.suffix for fmt in (EXPORTERS.get(n) for n in EXPORTERS.names()) if fmt.suffix}
    names |= {p.name for p in run.path.glob("model*") if p.suffix in suffixes}
    gone = []
    for name in sorted(names):
        p = run.path / Path(name).name
        if p.is_file() and p.resolve() != keep.resolve():
            gone += remove_file(run, p.name)
    return gone


@stage("export", ExportConfig, input_field="artifact", summary="export to ONNX (fp32/fp16/bf16/int8) + parity check")
def run_export(cfg: ExportConfig, out: Path) -> StageResult:
    fmt = export_format(cfg.format)
    if not fmt.available():
        raise ConfigError(f"export --format {cfg.format} needs the {fmt.extra} extra; install it with: pip install "
                          f"'edgevision[{fmt.extra}]'")
    asked = [f for f in PRECISION_FLAGS if getattr(cfg, f)]
    bad = [f for f in asked if f not in fmt.options]
    if bad:
        raise ConfigError(f"export --format {cfg.format} does not support {', '.join('--' + b for b in bad)}; "
                          f"it supports: {', '.join(sorted(fmt.options)) or 'no precision options'}")
    src = resolve_artifact(cfg.artifact)
    if src.suffix == ".onnx" and not fmt.onnx_input:  # before loading: a described foreign file stays unchanged
        raise ConfigError(f"{src}: export --format {cfg.format} needs a torch artifact (.pt, .evz); an ONNX file "
                          f"converts with --format {' or '.join(onnx_formats())}, and its int8 file comes from "
                          f"`edgevision quantize`")
    art = load_artifact(src, cfg.onnx_description())
    if isinstance(art.model, OnnxModule) and art.meta.get("precision", "fp32") != "fp32":
        raise ConfigError(f"{art.path}: the ONNX file is {art.meta['precision']}; --format {cfg.format} converts fp32 "
                          f"files (the fp32 model.onnx of an export, or a foreign fp32 file) and makes its own "
                          f"bf16 / int8 variants")
    run = RunDir(out).mkdir()
    run.card_path.unlink(missing_ok=True)
    clear_previous(run, art.path)
    run.write_config(saved_config(cfg))
    phases = Phases()
    job = ExportJob(cfg, art, run)
    with phases("export and parity checks"):
        files = fmt.fn(job)
    best = None
    if fmt.choose is not None:
        with phases("accuracy and timing of the candidates"):
            files, best = fmt.choose(job, files)
    failed = _failure_lines(run, files)
    for f in files:
        if not f["pass"]:
            remove_file(run, f["file"])  # all-or-nothing per file
    passed, rejected = [f for f in files if f["pass"]], [f for f in files if not f["pass"]]
    write_json(run.path / "export.json", {"format": cfg.format, "files": passed,
                                          "rejected": [*({**f, "reason": rejection_reason(f)} for f in rejected),
                                                       *best_rejections(best)],
                                          "phases_s": phases.as_dict(), **({"best": best} if best else {})})
    for f in passed:
        console.print(f"exported {run.path / f['file']}  ({f['precision']}, {f['bytes']:,} bytes; checked in "
                      f"{checked(f)})", highlight=False)
    if passed:
        _write_card(cfg, art, run, passed, rejected, best)
    if best:
        console.print(best_line(best), highlight=False)
    if failed:
        raise EdgevisionError(failed[0] + (f" (+{len(failed) - 1} more; see {run.path / 'export.json'})"
                                           if len(failed) > 1 else ""))
    console.print(phases.line("export"), highlight=False)
    main = passed[-1]["file"]
    return StageResult(run.path, run.path / main, json.loads(run.card_path.read_text()))


def model_facts(art: Artifact) -> dict[str, Any]:
    """Architecture, params and MACs for a card (counted on the graph itself when the artifact is an ONNX file)."""
    if isinstance(art.model, OnnxModule):
        path = art.model.path
        return {"model": art.arch.to_dict(), "params": onnx_params(path), "macs": onnx_macs(path, art.input_shape)}
    return {"model": get_arch(art.model).to_dict(), "params": count_params(art.model),
            "macs": count_macs(art.model, art.input_shape)}


def _write_card(cfg: ExportConfig, art: Artifact, run: RunDir, passed: list[dict[str, Any]],
                rejected: list[dict[str, Any]], best: dict[str, Any] | None = None) -> None:
    """The card lists the files that passed (the last is the main artifact) and those rejected (removed)."""
    main = passed[-1]
    card = make_card("export", task=art.task, artifact=run.path / main["file"],
                     metrics=card_metrics(passed, rejected, best), parent=str(art.path), format=cfg.format,
                     files=passed,
                     rejected=[{"file": f["file"], "precision": f["precision"]} for f in rejected],
                     **model_facts(art), input_shape=list(art.input_shape), preprocess=art.preprocess,
                     data=art.meta.get("data"),
                     precision=main["precision"], **({"best": best} if best else {}))
    if rejected:
        card["status"] = "partial"  # a recipe re-runs a partial export; the passed files are usable meanwhile
    run.write_card(card)


def export(artifact: str | Path | nn.Module, out: str | Path | None = None, **options: Any) -> StageResult:
    """Export an artifact (``edgevision export``); every written file is parity-checked.

    Example:
        >>> edgevision.export("runs/qs/train", format="onnx", int8=True, fp16=True)
    """
    artifact, out, options = module_input(artifact, "export", out, options)
    return run_stage("export", {"artifact": str(artifact), **options}, out)
