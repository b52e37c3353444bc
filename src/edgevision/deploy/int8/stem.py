"""Keep the input "stem" of a network in float when that makes int8 faster, and measure to decide.

Why (measured on this CPU with onnxruntime, 1 thread, SqueezeNet-1.1 at 224², see docs/results/speed.md):

- an int8 convolution on a 1–4 channel input is about 3× slower than its fp32 kernel: the reduction depth
  ``K = C_in·k_h·k_w`` (27 for RGB 3×3) is far too short for the VNNI dot-product kernels, while the fp32
  NCHWc kernel has a dedicated path for it (1.7 ms against 0.6 ms, a third of the whole int8 network);
- a ``QuantizeLinear`` placed right after a ``MaxPool`` is moved in front of it by onnxruntime's QDQ
  propagation, onto a uint8 NCHW max-pool kernel that is 40× slower than the fp32 one. So when the stem
  conv is followed by a pool, the conv *after* the pool stays in float too, and quantization starts behind it.

:func:`stem_nodes` finds those nodes in any graph (no model list); :func:`choose_stem` quantizes with and
without them and keeps the faster file, so a model where the rule does not pay is left fully int8.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from ...utils.timing import interleaved
from ..onnx import ort_session

STEM_MAX_CHANNELS = 4
POOLS = frozenset({"MaxPool", "AveragePool"})
PASS_THROUGH = frozenset({"Relu", "Clip", "LeakyRelu", "BatchNormalization", "Sigmoid", "HardSigmoid",
                          "HardSwish", "PRelu"})
PREPROCESS = frozenset({"Sub", "Mul", "Div", "Add", "Cast"})


def _consumers(graph: onnx.GraphProto) -> dict[str, list[onnx.NodeProto]]:
    out: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            out.setdefault(name, []).append(node)
    return out


def _only(consumers: dict[str, list[onnx.NodeProto]], tensor: str) -> onnx.NodeProto | None:
    nodes = consumers.get(tensor, [])
    return nodes[0] if len(nodes) == 1 else None


def stem_nodes(path: str | Path, max_channels: int = STEM_MAX_CHANNELS) -> list[str]:
    """Names of the nodes to keep in float: the first Conv when its input has ≤ ``max_channels`` channels, then,
    if a pooling op follows it (through activations), that pool and the next Conv. ``[]`` when there is no
    such stem (a first conv on wide input, or a branching graph right after the stem)."""
    model = onnx.load(str(path), load_external_data=False)
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    inputs = [i.name for i in g.input if i.name not in inits]
    if not inputs:
        return []
    cons = _consumers(g)
    node = _only(cons, inputs[0])
    while node is not None and node.op_type in PREPROCESS:  # a mean image / scale baked into the graph
        node = _only(cons, node.output[0])
    if node is None or node.op_type != "Conv" or node.input[1] not in inits:
        return []
    if numpy_helper.to_array(inits[node.input[1]]).shape[1] > max_channels:
        return []
    out = [node.name]
    node = _skip(cons, node, PASS_THROUGH)
    if node is None or node.op_type not in POOLS:
        return out
    out.append(node.name)
    node = _skip(cons, node, PASS_THROUGH)
    if node is not None and node.op_type == "Conv":
        out.append(node.name)
    return out


def _skip(cons: dict[str, list[onnx.NodeProto]], node: onnx.NodeProto, ops: frozenset[str]) -> onnx.NodeProto | None:
    """The single consumer after ``node``, skipping over ``ops``; None where the graph branches or ends."""
    nxt = _only(cons, node.output[0])
    while nxt is not None and nxt.op_type in ops:
        nxt = _only(cons, nxt.output[0])
    return nxt


def latency_pair(paths: dict[str, Path], shape: tuple[int, ...], threads: int, budget_s: float,
                 min_rounds: int = 7, target: float = 0.01) -> dict[str, Any]:
    """Batch-1 onnxruntime latency of each file in interleaved rounds (:func:`~edgevision.utils.timing.interleaved`,
    ``budget_s / min_rounds`` seconds per file and round), until the ratios against the first file are stable.

    Returns the ``interleaved`` result: ``rounds``, ``stable``, ``latency`` (pooled p50/p90 ms), ``speedup``
    (against the first file) and ``spread`` (per-round ratios).
    """
    sessions = {k: ort_session(p, threads) for k, p in paths.items()}
    x = np.random.default_rng(0).standard_normal((1, *shape), np.float32)
    fns = {k: _runner(s, x) for k, s in sessions.items()}
    return interleaved(fns, min_rounds=min_rounds, round_s=budget_s / min_rounds, target=target)


def _runner(session: Any, x: np.ndarray) -> Callable[[], object]:
    name = session.get_inputs()[0].name
    return lambda: session.run(None, {name: x})


def choose_stem(prepared: Path, quantize: Callable[[Path, list[str]], Path], exclude: list[str], mode: str,
                shape: tuple[int, ...], threads: int = 1, budget_s: float = 1.0) -> tuple[list[str], dict[str, Any]]:
    """The float-stem decision: ``mode`` "int8" (never), "float" (always, when a stem exists) or "auto"
    (quantize both ways with ``quantize(dst, exclude)`` and keep the faster in onnxruntime, batch 1).

    Returns the extra node names to exclude and a report (the stem found, both latencies, the choice).
    """
    stem = [n for n in stem_nodes(prepared) if n not in exclude]
    report: dict[str, Any] = {"mode": mode, "nodes": stem, "float": False}
    if not stem or mode == "int8":
        return [], report
    if mode == "float":
        report["float"] = True
        return stem, report
    with tempfile.TemporaryDirectory() as tmp:
        files = {"int8": quantize(Path(tmp) / "all.onnx", exclude),
                 "float stem": quantize(Path(tmp) / "stem.onnx", exclude + stem)}
        timed = latency_pair(files, shape, threads, budget_s, target=0.02)
    lat = timed["latency"]
    report.update(p50_ms={k: v["p50_ms"] for k, v in lat.items()}, threads=threads, rounds=timed["rounds"],
                  speedup=timed["speedup"]["float stem"], spread=timed["spread"]["float stem"])
    report["float"] = lat["float stem"]["p50_ms"] < lat["int8"]["p50_ms"]
    return (stem if report["float"] else []), report
