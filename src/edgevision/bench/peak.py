"""This machine's peak multiply-accumulate rate, measured with large matrix products on a given thread count.

"Achieved fraction of peak" only means something against a peak measured on the same machine, in the same
process, with the same threads. Peaks are measured with the GEMM kernels the engines themselves use:

- fp32: ``torch.mm`` (oneDNN/MKL sgemm) of two N×N matrices, N³ MACs per call;
- int8: onnxruntime ``MatMulInteger`` (uint8 × int8 → int32, the MLAS kernels that also run int8 convs,
  with VNNI/AMX when present).

The best of N ∈ {256, 512, 1024} is kept: a peak is the fastest rate the hardware sustains (on this
machine mid-size products that stay in cache run up to 3× faster than 1024² or 2048² ones, which are bound by memory).
"""

from __future__ import annotations

import numpy as np
import torch
from onnx import TensorProto, helper, numpy_helper

from ..utils.timing import measure


def fp32_gmacs(threads: int, n: int = 512, budget_s: float = 0.25) -> float:
    prev = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.randn(n, n), torch.randn(n, n)
        r = measure(lambda: torch.mm(a, b), warmup=1, min_runs=3, budget_s=budget_s)
    finally:
        torch.set_num_threads(prev)
    return n ** 3 / (r["p50_ms"] * 1e6)


def int8_gmacs(threads: int, n: int = 512, budget_s: float = 0.25) -> float:
    import onnxruntime as ort

    a = helper.make_tensor_value_info("a", TensorProto.UINT8, [n, n])
    b = numpy_helper.from_array(np.random.default_rng(0).integers(-128, 127, (n, n), dtype=np.int8), "b")
    y = helper.make_tensor_value_info("y", TensorProto.INT32, [n, n])
    graph = helper.make_graph([helper.make_node("MatMulInteger", ["a", "b"], ["y"])], "peak", [a], [y], [b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).integers(0, 255, (n, n), dtype=np.uint8)
    r = measure(lambda: sess.run(None, {"a": x}), warmup=1, min_runs=3, budget_s=budget_s)
    return n ** 3 / (r["p50_ms"] * 1e6)


SIZES = (256, 512, 1024)


def peak_gmacs(threads: int, budget_s: float = 0.25) -> dict[str, float]:
    """``{"fp32": GMAC/s, "int8": GMAC/s, "fp32_n": N, "int8_n": N}`` on ``threads`` threads (best size)."""
    fp = {n: fp32_gmacs(threads, n, budget_s) for n in SIZES}
    i8 = {n: int8_gmacs(threads, n, budget_s) for n in SIZES}
    nf, ni = max(fp, key=fp.get), max(i8, key=i8.get)
    return {"fp32": round(fp[nf], 2), "int8": round(i8[ni], 2), "fp32_n": nf, "int8_n": ni}
