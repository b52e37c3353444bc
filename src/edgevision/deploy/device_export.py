"""The export flow the on-device formats share (``tflite``, ``executorch``): an fp32 file checked on float error,
an int8 file calibrated on real training images and checked on top-1 agreement, both self-describing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from ..errors import DataError
from .export import ExportJob, onnx_metadata, score, torch_outputs
from .int8 import graph as q
from .runtimes import FileRuntime

Fp32 = Callable[[nn.Module, tuple[int, int, int], Path, dict[str, Any]], Path]
Int8 = Callable[[nn.Module, tuple[int, int, int], np.ndarray, Path, dict[str, Any]], Path]


def static_metadata(job: ExportJob, precision: str, fmt: str, **extra: Any) -> dict[str, Any]:
    """The export's self-description (as an ``.onnx`` export's), with the file's static batch-1 NCHW input."""
    meta = onnx_metadata(job.art, job.model, precision, **extra)
    meta["input"]["shape"][0] = 1
    return {**meta, "format": fmt}


def _entry(rt: FileRuntime, path: Path, precision: str, x: np.ndarray, res: dict[str, Any]) -> dict[str, Any]:
    return {"file": path.name, "precision": precision, "bytes": path.stat().st_size, "samples": len(x),
            "engines": [rt.engine], rt.engine: res, "pass": res["pass"]}


def export_files(job: ExportJob, rt: FileRuntime, fp32: Fp32, int8: Int8) -> list[dict[str, Any]]:
    """``model{suffix}`` (and ``model.int8{suffix}`` with ``--int8``), each run in ``rt`` and scored."""
    cfg, fmt = job.cfg, f"edgevision{rt.suffix}"
    x, real = job.probe()
    ref = torch_outputs(job.model, x)
    path = fp32(job.model, job.shape, job.run.path / f"model{rt.suffix}", static_metadata(job, "fp32", fmt))
    files = [_entry(rt, path, "fp32", x, score(rt.runner(path, 1)(x), ref, cfg, "float"))]
    if cfg.int8:
        sp = job.splits()
        if sp is None or not real or not len(sp.train):
            raise DataError(f"{job.art.path}: int8 export needs calibration data; the artifact records none, pass "
                            f"--data")
        calib = q.sample_array(sp.train, sp, cfg.calib_samples)
        meta = static_metadata(job, "int8", fmt, calib_samples=len(calib))
        path = int8(job.model, job.shape, calib, job.run.path / f"model.int8{rt.suffix}", meta)
        files.append({**_entry(rt, path, "int8", x, score(rt.runner(path, 1)(x), ref, cfg, "agreement")),
                      "calib_samples": len(calib)})
    return files
