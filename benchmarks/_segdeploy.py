"""ONNX fp32 / int8 deployment of a segmentation artifact for the benchmarks: export, static QDQ quantization
calibrated on training images, accuracy of each ONNX model on a split, and 1-thread latency.

int8 uses onnxruntime's ``quantize_static`` (QDQ, per-channel int8 weights, uint8 activations — the U8S8 layout
onnxruntime recommends for x86 with VNNI), min-max calibrated on training images, after ``quant_pre_process``.
It uses onnxruntime's default quantizer, not the project's own.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgevision.data import BatchLoader, BatchTransform
from edgevision.deploy.onnx import export_onnx, ort_session, parity
from edgevision.metrics.segmentation import segmentation_metrics
from edgevision.utils.timing import measure


def normalized(ds, mean, std, n: int | None = None) -> np.ndarray:
    """(N, C, H, W) float32 model inputs of the first ``n`` samples of an in-memory dataset."""
    loader = BatchLoader(ds, 64, shuffle=False, transform=BatchTransform(mean, std))
    xs = [b["image"].numpy() for b in loader]
    x = np.concatenate(xs).astype(np.float32)
    return x[:n] if n else x


def quantize(fp32: Path, out: Path, calib: np.ndarray) -> Path:
    """Static int8 QDQ model calibrated on ``calib`` (N, C, H, W)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter([{"input": calib[i:i + 1]} for i in range(len(calib))])

        def get_next(self):
            return next(self.it, None)

    pre = out.with_suffix(".pre.onnx")
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
        quantize_static(str(pre), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    pre.unlink(missing_ok=True)
    return out


def onnx_metrics(path: Path, x: np.ndarray, masks: np.ndarray, class_names: list[str], threads: int) -> dict:
    """The doc's metrics of an ONNX model on inputs ``x`` with true masks (N, H, W)."""
    sess = ort_session(path, threads)
    preds = [sess.run(None, {"input": x[i:i + 8]})[0].argmax(1) for i in range(0, len(x), 8)]
    return segmentation_metrics(np.concatenate(preds), masks, class_names)


def latency_ms(paths: dict[str, Path], shape: tuple[int, ...], threads: int = 1, budget_s: float = 3.0,
               rounds: int = 5) -> dict[str, dict[str, float]]:
    """Batch-1 ms per model on onnxruntime with ``threads`` intra-op threads: the models are timed in interleaved
    rounds (so machine noise hits them alike), each round after a warm-up; the median of the round medians is
    quoted, with the spread of the round medians."""
    x = np.random.default_rng(0).standard_normal((1, *shape)).astype(np.float32)
    sessions = {k: ort_session(p, threads) for k, p in paths.items()}
    per: dict[str, list[float]] = {k: [] for k in paths}
    for _ in range(rounds):
        for k, sess in sessions.items():
            r = measure(lambda s=sess: s.run(None, {"input": x}), warmup=5, min_runs=10, budget_s=budget_s / rounds)
            per[k].append(r["p50_ms"])
    return {k: {"p50_ms": round(float(np.median(v)), 3), "round_min_ms": round(min(v), 3),
                "round_max_ms": round(max(v), 3), "rounds": rounds, "threads": threads} for k, v in per.items()}


def deploy(model: torch.nn.Module, splits, threads: int = 1, calib_images: int = 64,
           budget_s: float = 5.0) -> dict[str, Any]:
    """fp32 and int8 ONNX of ``model``: parity, test metrics and 1-thread latency of each (same process)."""
    shape = (splits.channels, *splits.input_size)
    x_test = normalized(splits.test, splits.mean, splits.std)
    masks = splits.test.targets["mask"].numpy()
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = export_onnx(model, Path(tmp) / "fp32.onnx", shape)
        err = parity(model, ort_session(fp32, 1), shape)
        int8 = quantize(fp32, Path(tmp) / "int8.onnx", normalized(splits.train, splits.mean, splits.std, calib_images))
        out = {"onnx_parity_max_abs": err, "fp32_file_bytes": fp32.stat().st_size,
               "int8_file_bytes": int8.stat().st_size}
        lat = latency_ms({"fp32": fp32, "int8": int8}, shape, 1, budget_s)
        for tag, path in (("fp32", fp32), ("int8", int8)):
            m = onnx_metrics(path, x_test, masks, splits.class_names, threads)
            out[f"onnx_{tag}"] = {"miou": m["miou"], "mdice": m["mdice"], "mpa": m["mpa"], "latency_1t": lat[tag],
                                  "fps_1t": round(1000 / lat[tag]["p50_ms"], 2)}
    out["int8_speedup"] = round(lat["fp32"]["p50_ms"] / lat["int8"]["p50_ms"], 3)
    return out
