"""Parameters and MACs of an ONNX graph itself, for files without a torch architecture (foreign ONNX files).

MACs are counted as :func:`edgevision.models.complexity.count_macs` counts them on torch models (multiply-
accumulates of conv / linear / matmul at batch 1), from the shapes of one onnxruntime run:

- ``Conv``: ``|Y| · (C_in / g) · k_h · k_w`` (``|Y|`` = output elements, ``W`` is (C_out, C_in/g, k_h, k_w));
- ``ConvTranspose``: ``|X| · (C_out / g) · k_h · k_w``;
- ``MatMul`` / ``Gemm``: ``|Y| · K`` (the reduced dimension);

summed over the graph and divided by the batch of the run.

Parameters are the elements of the graph's initializers, without shapes (int64) and the scales and zero points
of quantize / dequantize nodes, so an int8 file counts its weights once.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import onnx

from .onnx import fixed_batch, ort_session

MAC_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm")
_QDQ = ("QuantizeLinear", "DequantizeLinear")


def onnx_params(path: str | Path) -> int:
    """Elements of the weights stored in the file (see module doc)."""
    model = onnx.load(str(path), load_external_data=False)
    qparams = {n.input[i] for n in model.graph.node if n.op_type in _QDQ for i in (1, 2) if len(n.input) > i}
    return sum(math.prod(t.dims) for t in model.graph.initializer
               if t.name not in qparams and t.data_type != onnx.TensorProto.INT64)


def _probe_model(model: onnx.ModelProto) -> tuple[onnx.ModelProto, list[onnx.NodeProto]]:
    """A copy of ``model`` whose outputs include every tensor a MAC count needs."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    nodes = [n for n in m.graph.node if n.op_type in MAC_OPS]
    have = {o.name for o in m.graph.output}
    inits = {t.name for t in m.graph.initializer}
    for n in nodes:
        for name in (n.input[0], n.input[1], n.output[0]):
            if name not in have and name not in inits:
                m.graph.output.add(name=name)
                have.add(name)
    return m, nodes


def _shapes(model: onnx.ModelProto, input_shape: tuple[int, ...]) -> tuple[dict[str, tuple[int, ...]], int]:
    """Shapes of every probed tensor on one zero batch (the file's fixed batch, else 1), and that batch."""
    probe, _ = _probe_model(model)
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "probe.onnx"
        onnx.save(probe, str(f))
        s = ort_session(f, 1)
        batch = fixed_batch(s) or 1
        x = np.zeros((batch, *input_shape), np.float32)
        outs = s.run(None, {s.get_inputs()[0].name: x})
        shapes = {o.name: tuple(v.shape) for o, v in zip(s.get_outputs(), outs)}
    shapes.update({t.name: tuple(t.dims) for t in model.graph.initializer})
    return shapes, batch


def _weight_shape(name: str, model: onnx.ModelProto, shapes: dict[str, tuple[int, ...]]) -> tuple[int, ...]:
    """A weight's shape, looking through a DequantizeLinear of an initializer (int8 QDQ files)."""
    if name in shapes:
        return shapes[name]
    src = next((n for n in model.graph.node if name in n.output and n.op_type == "DequantizeLinear"), None)
    return shapes[src.input[0]] if src is not None else ()


def _node_macs(n: onnx.NodeProto, model: onnx.ModelProto, shapes: dict[str, tuple[int, ...]]) -> int:
    y = shapes.get(n.output[0], ())
    w = _weight_shape(n.input[1], model, shapes)
    if not y or not w:
        return 0
    if n.op_type == "Conv":
        return math.prod(y) * math.prod(w[1:])
    if n.op_type == "ConvTranspose":
        return math.prod(shapes.get(n.input[0], (0,))) * math.prod(w[1:])
    if n.op_type == "Gemm":
        trans_b = next((a.i for a in n.attribute if a.name == "transB"), 0)
        return math.prod(y) * (w[1] if trans_b else w[0])
    a = shapes.get(n.input[0], ())
    return math.prod(y) * (a[-1] if a else 0)


def onnx_macs(path: str | Path, input_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of conv / linear / matmul for one image of ``input_shape`` (C, H, W)."""
    model = onnx.load(str(path))
    shapes, batch = _shapes(model, input_shape)
    total = sum(_node_macs(n, model, shapes) for n in model.graph.node if n.op_type in MAC_OPS)
    return int(total // batch)
