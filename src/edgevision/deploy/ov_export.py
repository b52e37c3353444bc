"""``export --format openvino``: OpenVINO IR files (fp32, bf16 compute, NNCF int8), each parity-checked in OpenVINO.

The IR is converted from the same ONNX graph the ``onnx`` format writes (so both formats see one graph), and
checked like the ONNX files against the torch model on the hold-out (an ONNX artifact, an edgevision export or a
foreign file, converts as it is and is checked against its own outputs in onnxruntime):

- ``model.xml`` (fp32): ``max |ir − torch| / max |torch| ≤ rtol``;
- ``model.bf16.xml`` (fp16 weight storage, bf16 compute hint) and ``model.int8.xml`` (NNCF): top-1 agreement
  ≥ ``min_agreement``; int8 is calibrated on ``calib_samples`` train images and, when the data has a test split,
  its accuracy there must stay within ``tolerance`` points of the fp32 IR's (both are recorded).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..data import BatchLoader, BatchTransform
from ..errors import DataError
from ..tasks import build_task
from ..train.trainer import evaluate_model
from . import openvino as ovx
from .export import EXPORTERS, ExportFormat, ExportJob, agreement_check, onnx_metadata, score, torch_outputs
from .int8 import graph as q
from .onnx import OnnxModule, export_onnx

TEST_LIMIT = 2000  # first test samples of the int8 accuracy check


def _entry(path: Path, precision: str, x: np.ndarray, res: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"file": path.name, "precision": precision, "bytes": ovx.ir_bytes(path), "samples": len(x),
            "engines": ["openvino"], "openvino": res, "pass": res["pass"], "companions": [path.with_suffix(".bin")
                                                                                           .name], **extra}


def _openvino(job: ExportJob) -> list[dict[str, Any]]:
    cfg = job.cfg
    ovx.require()
    x, real = job.probe()
    ref = torch_outputs(job.model, x)
    if isinstance(job.model, OnnxModule):  # an ONNX artifact converts as it is; its reference is onnxruntime's
        model = ovx.convert(job.art.path)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            onnx_file = export_onnx(job.model, Path(tmp) / "model.onnx", job.shape, cfg.opset, cfg.dynamic_batch)
            model = ovx.convert(onnx_file)
    fp32 = ovx.save_ir(model, job.run.path / "model.xml", onnx_metadata(job.art, job.model, "fp32"))
    files = [_entry(fp32, "fp32", x, score(ovx.run_ir(fp32, x, "fp32"), ref, cfg, "float"))]
    if cfg.bf16:
        files.append(_bf16(job, model, x, ref))
    if cfg.int8:
        files.append(_int8(job, model, fp32, x, ref, real))
    return files


def _bf16(job: ExportJob, model: Any, x: np.ndarray, ref: np.ndarray) -> dict[str, Any]:
    compute = "bf16" if ovx.has_bf16() else "f32 (this CPU has no bf16 units; the hint falls back)"
    meta = onnx_metadata(job.art, job.model, "bf16", storage="fp16 weights", compute_hint="bf16")
    path = ovx.save_ir(model.clone(), job.run.path / "model.bf16.xml", meta, fp16_weights=True)
    res = score(ovx.run_ir(path, x, "bf16"), ref, job.cfg, "agreement")
    return _entry(path, "bf16", x, res, compute=compute)


def _int8(job: ExportJob, model: Any, fp32: Path, x: np.ndarray, ref: np.ndarray, real: bool) -> dict[str, Any]:
    cfg, sp = job.cfg, job.splits()
    if sp is None or not real or not len(sp.train):
        raise DataError(f"{job.art.path}: int8 export needs calibration data; the artifact records none, pass --data")
    calib = q.sample_array(sp.train, sp, cfg.calib_samples)
    max_drop = min(1 - cfg.min_agreement, cfg.tolerance / 100)
    qm, report = ovx.quantize_int8(model.clone(), calib, x, ref, max_drop)
    path = job.run.path / "model.int8.xml"
    ovx.save_ir(qm, path, onnx_metadata(job.art, job.model, "int8", quantizer=report["quantizer"],
                                        calib_samples=len(calib)))
    out = ovx.run_ir(path, x, "int8")
    err = {k: v for k, v in score(out, ref, cfg, "agreement").items() if k.startswith("max_")}
    res = agreement_check(None, q.agreement(out, ref), len(x), cfg.min_agreement, **err)
    test = _test_accuracy(job, fp32, path)
    if test is not None:
        res["test"] = test
        if res["pass"] and test["drop_points"] > cfg.tolerance:
            res.update(metric="accuracy_drop", accuracy_drop=test["drop_points"], threshold=cfg.tolerance,
                       **{"pass": False})
    return _entry(path, "int8", x, res, nncf=report)


def metric_on_test_split(job: ExportJob, model: Any) -> tuple[str, float, int] | None:
    """(primary metric name, its value, samples) of ``model`` on the first :data:`TEST_LIMIT` test samples of the
    artifact's data; None when there is no test split."""
    sp = job.splits()
    if sp is None or not len(sp.test):
        return None
    task = build_task(job.art.task)
    ds = sp.test.subset(np.arange(TEST_LIMIT)) if len(sp.test) > TEST_LIMIT and hasattr(sp.test, "subset") \
        else sp.test
    m = evaluate_model(model, task, BatchLoader(ds, 64, shuffle=False, transform=BatchTransform(sp.mean, sp.std)))
    return task.primary, float(m[task.primary]), len(ds)


def _test_accuracy(job: ExportJob, fp32: Path, int8: Path) -> dict[str, Any] | None:
    """The primary metric of the fp32 and int8 IRs on (the first :data:`TEST_LIMIT` samples of) the test split."""
    vals: dict[str, float] = {}
    for name, path in (("fp32", fp32), ("int8", int8)):
        if (r := metric_on_test_split(job, ovx.OpenVinoModule(path, name))) is None:
            return None
        metric, vals[name], n = r
    return {"metric": metric, "samples": n, **vals, "drop_points": 100 * (vals["fp32"] - vals["int8"])}


EXPORTERS.register("openvino", ExportFormat(
    ".xml", frozenset({"int8", "bf16"}), _openvino,
    "OpenVINO IR (.xml + .bin): fp32, bf16 compute, int8 via NNCF", extra="openvino",
    available=lambda: ovx.available(), companions=(".bin",), onnx_input=True,
    settings=frozenset({"opset", "dynamic_batch", "calib_samples", "tolerance"})))
