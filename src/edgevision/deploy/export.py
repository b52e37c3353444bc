"""``edgevision export``: table-driven export, each file followed by a parity check.

:data:`EXPORTERS` maps a format name to its suffix, the precision options it supports, and the function that
writes it (``onnx`` and ``pt`` here; a new format adds its row). Every written file is checked against the
torch model on the same inputs (real hold-out samples when the artifact records its data, random ones
otherwise):

- fp32: max |onnx − torch| ≤ ``tolerance`` (1e-4);
- fp16 / bf16 weight storage: top-1 agreement with the fp32 model ≥ ``min_agreement`` (the max relative
  error is reported: about 2⁻¹¹ per weight for fp16, 2⁻⁸ for bf16);
- int8: top-1 agreement with fp32 ≥ ``min_agreement`` (99 %) on the calibration hold-out (the val split; the
  calibration samples come from the train split).

ONNX files run in onnxruntime and in OpenCV's ``cv2.dnn``; the cv2 check runs in a child process because
OpenCV can abort the process on graphs it misreads. Each ``.onnx`` carries the preprocessing, task, class
names and architecture spec in its ``metadata_props``, so the file alone is enough to run it.
"""

from __future__ import annotations

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
from ..utils.io import write_json
from ..utils.progress import console
from ..utils.text import one_line
from .cv2fix import cv2_compatible
from .int8 import graph as q
from .int8.stem import choose_stem
from .onnx import OnnxModule, export_onnx, write_metadata

PRECISION_FLAGS = ("int8", "fp16", "bf16")


@dataclass(frozen=True)
class ExportFormat:
    """One row of the export table."""

    suffix: str
    options: frozenset[str]
    fn: Callable[[ExportJob], list[dict[str, Any]]]
    description: str = ""


EXPORTERS: Registry = Registry("export format", builtins=("edgevision.deploy",), plural="exporters")




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
    return {"format": "edgevision.onnx", "version": __version__, "precision": precision,
            "arch": get_arch(model).to_dict(), "task": art.task, "preprocess": art.preprocess,
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
    """Parity of ``path`` against ``ref`` in onnxruntime (and cv2.dnn): ``mode`` is "abs" or "agreement"."""
    res: dict[str, Any] = {"file": path.name, "precision": precision, "bytes": path.stat().st_size,
                           "samples": len(x)}
    res["onnxruntime"] = _score(q.run_onnx(path, x), ref, cfg, mode)
    if cfg.cv2 != "off":
        n = min(len(x), 64)
        out, err = cv2_outputs(path, x[:n])
        res["cv2"] = {"pass": False, "error": err} if out is None else _score(out, ref[:n], cfg, mode)
    return res


def _score(out: np.ndarray, ref: np.ndarray, cfg: ExportConfig, mode: str) -> dict[str, Any]:
    if out.shape != ref.shape:
        return {"pass": False, "error": f"output shape {out.shape} != torch {ref.shape}"}
    if mode == "abs":
        err = float(np.abs(out - ref).max()) if out.size else 0.0
        return {"max_abs_err": err, "pass": err <= cfg.tolerance}
    agr = q.agreement(out, ref)
    rel = float(np.abs(out - ref).max() / max(float(np.abs(ref).max()), 1e-12)) if out.size else 0.0
    return {"agreement": agr, "max_rel_err": rel, "pass": agr >= cfg.min_agreement}


# ---------------------------------------------------------------------------------------------- formats
def _onnx(job: ExportJob) -> list[dict[str, Any]]:
    cfg, model = job.cfg, job.model
    x, real = job.probe()
    ref = torch_outputs(model, x)
    fp32 = job.run.path / "model.onnx"
    export_onnx(model, fp32, job.shape, cfg.opset, cfg.dynamic_batch)
    rewritten = cv2_compatible(fp32)
    write_metadata(fp32, onnx_metadata(job.art, model, "fp32", cv2_rewrites=rewritten))
    files = [check(fp32, "fp32", x, ref, cfg, "abs")]
    for p in ("fp16", "bf16"):
        if getattr(cfg, p):
            path = q.onnx_weight_storage(fp32, job.run.path / f"model.{p}.onnx", p)
            write_metadata(path, onnx_metadata(job.art, model, p, storage=f"{p} weights, fp32 compute"))
            files.append(check(path, p, x, ref, cfg, "agreement"))
    if cfg.int8:
        files.append(_int8(job, fp32, x, ref, real))
    return files


def _int8(job: ExportJob, fp32: Path, x: np.ndarray, ref: np.ndarray, real: bool) -> dict[str, Any]:
    cfg, sp = job.cfg, job.splits()
    if sp is None or not real or not len(sp.train):
        raise DataError(f"{job.art.path}: int8 export needs calibration data; the artifact records none, pass --data")
    calib = q.sample_array(sp.train, sp, cfg.calib_samples)
    path = job.run.path / "model.int8.onnx"
    with tempfile.TemporaryDirectory() as tmp:
        prepared = q.prepare_for_int8(fp32, Path(tmp) / "prepared.onnx")
        excluded = q.nodes_matching(prepared, cfg.exclude)
        cache = Path(tmp) / "ranges.json"

        def quantize(dst: Path, exclude: list[str]) -> Path:
            return q.quantize_int8(prepared, dst, calib, method=cfg.calibration, per_channel=cfg.per_channel,
                                   exclude_nodes=exclude, cache=cache)

        stem, stem_report = choose_stem(prepared, quantize, excluded, cfg.stem, job.shape)
        excluded += stem
        quantize(path, excluded)
    write_metadata(path, onnx_metadata(job.art, job.model, "int8", calibration=cfg.calibration,
                                       calib_samples=len(calib), per_channel=cfg.per_channel, excluded=excluded))
    return {**check(path, "int8", x, ref, cfg, "agreement"), "calibration": cfg.calibration, "excluded": excluded,
            "stem": stem_report}


def _pt(job: ExportJob) -> list[dict[str, Any]]:
    cfg = job.cfg
    precision = "fp16" if cfg.fp16 else "bf16" if cfg.bf16 else "fp32"
    model = q.half_storage(job.model, precision) if precision != "fp32" else job.model
    path = save_model(job.run.path / "model.pt", model, task=job.art.task, preprocess=job.art.preprocess,
                      meta={**job.art.meta, "precision": precision})
    x, _ = job.probe()
    want = torch_outputs(q.rounded_copy(job.model, precision) if precision != "fp32" else job.model, x)
    got = torch_outputs(load_artifact(path).model, x)
    err = float(np.abs(got - want).max())
    return [{"file": path.name, "precision": precision, "bytes": path.stat().st_size, "samples": len(x),
             "torch": {"max_abs_err": err, "pass": err <= cfg.tolerance}}]


EXPORTERS.register("onnx", ExportFormat(".onnx", frozenset(PRECISION_FLAGS), _onnx,
                                        "ONNX (opset ≥ 17, dynamic batch) for onnxruntime and cv2.dnn"))
EXPORTERS.register("pt", ExportFormat(".pt", frozenset({"fp16", "bf16"}), _pt,
                                      "edgevision .pt (spec + state_dict) with 16-bit weight storage"))


# ---------------------------------------------------------------------------------------------- the stage
def _failures(files: list[dict[str, Any]], cv2_mode: str) -> tuple[list[str], list[str]]:
    errors, warnings = [], []
    for f in files:
        for eng in ("onnxruntime", "torch", "cv2"):
            r = f.get(eng)
            if r is None or r.get("pass"):
                continue
            what = r.get("error") or ", ".join(f"{k} {v:.6g}" for k, v in r.items() if isinstance(v, float))
            line = f"{f['file']} in {eng}: {what}"
            (warnings if eng == "cv2" and cv2_mode == "check" else errors).append(line)
    return errors, warnings


@stage("export", ExportConfig, input_field="artifact", summary="export to ONNX (fp32/fp16/bf16/int8) + parity check")
def run_export(cfg: ExportConfig, out: Path) -> StageResult:
    fmt: ExportFormat = EXPORTERS.get(cfg.format)
    asked = [f for f in PRECISION_FLAGS if getattr(cfg, f)]
    bad = [f for f in asked if f not in fmt.options]
    if bad:
        raise ConfigError(f"export --format {cfg.format} does not support {', '.join('--' + b for b in bad)}; "
                          f"it supports: {', '.join(sorted(fmt.options)) or 'no precision options'}")
    art = load_artifact(cfg.artifact)
    if isinstance(art.model, OnnxModule):
        raise ConfigError(f"{art.path}: export needs a torch artifact (.pt, .evz); this file is already ONNX")
    run = RunDir(out).mkdir()
    run.write_config(dump(cfg))
    files = fmt.fn(ExportJob(cfg, art, run))
    write_json(run.path / "export.json", {"format": cfg.format, "files": files})
    errors, warnings = _failures(files, cfg.cv2)
    for w in warnings:
        console.print(f"[yellow]warning:[/] {w}", highlight=False)
    if errors:
        raise EdgevisionError(f"export parity check failed: {errors[0]}" + (f" (+{len(errors) - 1} more; see "
                              f"{run.path / 'export.json'})" if len(errors) > 1 else ""))
    for f in files:
        console.print(f"exported {run.path / f['file']}  ({f['precision']}, {f['bytes']:,} bytes)", highlight=False)
    main = files[-1]["file"]
    card = make_card("export", task=art.task, model=get_arch(art.model).to_dict(), artifact=run.path / main,
                     parent=str(art.path), format=cfg.format, files=files, params=count_params(art.model),
                     macs=count_macs(art.model, art.input_shape), input_shape=list(art.input_shape),
                     preprocess=art.preprocess, data=art.meta.get("data"), precision=files[-1]["precision"])
    run.write_card(card)
    return StageResult(run.path, run.path / main, card)


def export(artifact: str | Path, out: str | Path | None = None, **options: Any) -> StageResult:
    """Export an artifact (``edgevision export``); every written file is parity-checked.

    Example:
        >>> edgevision.export("runs/qs/train", format="onnx", int8=True, fp16=True)
    """
    return run_stage("export", {"artifact": str(artifact), **options}, out)
