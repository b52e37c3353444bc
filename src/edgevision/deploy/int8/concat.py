"""One quantization scale per ``Concat`` in a QDQ graph: the inputs take the output's scale and zero point.

onnxruntime's quantizer calibrates every tensor on its own, so the two expand branches of a SqueezeNet fire
module reach their ``Concat`` with three different scales, and onnxruntime runs a ``QLinearConcat`` that
re-quantizes every element. Quantizing each input directly with the *output's* parameters makes the concat a
plain copy. It also removes a rounding step: before, ``x → q(x; s_in) → deq → q(·; s_out)``; after,
``x → q(x; s_out)``, which is what the concat's consumers saw anyway (any value outside the output range was
clipped there). Measured on SqueezeNet-1.1 224², onnxruntime, 1 thread: 2.35 → 2.14 ms.
"""

from __future__ import annotations

import onnx


def _single(consumers: dict[str, list[onnx.NodeProto]], tensor: str) -> onnx.NodeProto | None:
    nodes = consumers.get(tensor, [])
    return nodes[0] if len(nodes) == 1 else None


def share_concat_scales(model: onnx.ModelProto) -> int:
    """Rewire, in place, each ``Q → DQ → Concat → Q`` input pair to the output Q's scale and zero point.

    Only inputs whose Q and DQ feed nothing else are touched. Returns the number of inputs rewired (0 when
    run twice).
    """
    g = model.graph
    producer = {o: n for n in g.node for o in n.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    count = 0
    for node in g.node:
        out_q = _single(consumers, node.output[0]) if node.op_type == "Concat" else None
        if out_q is None or out_q.op_type != "QuantizeLinear" or len(out_q.input) < 3:
            continue
        for tensor in node.input:
            dq = producer.get(tensor)
            q = producer.get(dq.input[0]) if dq is not None and dq.op_type == "DequantizeLinear" else None
            if q is None or q.op_type != "QuantizeLinear" or len(q.input) < 3 or len(dq.input) < 3:
                continue
            if _single(consumers, q.output[0]) is not dq or _single(consumers, dq.output[0]) is not node:
                continue
            if list(q.input[1:3]) == list(out_q.input[1:3]) == list(dq.input[1:3]):
                continue  # already shared
            for n in (q, dq):
                n.input[1], n.input[2] = out_q.input[1], out_q.input[2]
            count += 1
    return count
