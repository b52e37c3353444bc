"""ONNX export (opset 17, dynamic batch) with a numeric parity check against PyTorch, and ORT sessions.

The TorchScript-based exporter (``dynamo=False``) is used: on this torch it is fast, and its graphs load in both
onnxruntime and OpenCV's ``cv2.dnn``.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

from ..errors import EdgevisionError
from ..utils.io import atomic_open

OPSET = 17


def export_onnx(model: nn.Module, path: str | Path, input_shape: tuple[int, ...], opset: int = OPSET,
                dynamic_batch: bool = True) -> Path:
    """Export ``model`` for inputs (B, *input_shape); the file appears atomically."""
    model = model.eval()
    x = torch.randn(1, *input_shape)
    buf = io.BytesIO()
    dyn = {"input": {0: "batch"}, "output": {0: "batch"}} if dynamic_batch else None
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(model, (x,), buf, dynamo=False, opset_version=opset, input_names=["input"],
                              output_names=["output"], dynamic_axes=dyn, do_constant_folding=True)
        except Exception as e:
            raise EdgevisionError(f"ONNX export failed: {str(e).splitlines()[0][:200]}") from None
    with atomic_open(path, "wb") as f:
        f.write(buf.getvalue())
    return Path(path)


def ort_session(path: str | Path, threads: int | None = None) -> ort.InferenceSession:
    """A CPU onnxruntime session with ``threads`` intra-op threads (1 inter-op thread, full graph optimization)."""
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def parity(model: nn.Module, session: ort.InferenceSession, input_shape: tuple[int, ...], batch: int = 2,
           seed: int = 0) -> float:
    """Max absolute difference between torch and onnxruntime outputs on random inputs."""
    x = torch.randn(batch, *input_shape, generator=torch.Generator().manual_seed(seed))
    with torch.inference_mode():
        ref = model.eval()(x)
    ref = ref if isinstance(ref, tuple | list) else (ref,)
    outs = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    return float(max(np.abs(o - r.float().numpy()).max() for o, r in zip(outs, ref)))
