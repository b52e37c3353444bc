"""Rewrites that make an exported ONNX graph read correctly in OpenCV's ``cv2.dnn`` (and stay exact in onnxruntime).

Each rewrite replaces a node by an equivalent one that OpenCV 4.x handles; each was found by a parity failure:

- ``Unsqueeze`` with a static result (apart from the batch) → ``Reshape([0, ...])``: the importer mis-infers
  Unsqueeze shapes under a dynamic batch (squeeze-excitation gates ``x * s[:, :, None, None]`` give wrong
  results or abort with SIGFPE).
- a ``Conv`` whose input and output are 1×1 spatially (a padded k×k conv at the end of a small-input
  network, e.g. MobileNetV1 at 28×28) → the 1×1 conv with the one kernel tap that meets the input: with
  padding p and dilation d only tap ``p / d`` touches the single pixel, the rest multiply zeros. cv2.dnn
  computes such convs wrongly (errors of the order of the output; measured on depthwise and full convs).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..utils.io import atomic_open


def _shapes(model: onnx.ModelProto) -> dict[str, list[int]]:
    """Static dims of every typed tensor (0 where a dim is symbolic, e.g. the batch)."""
    g = model.graph
    return {vi.name: [d.dim_value if d.HasField("dim_value") else 0 for d in vi.type.tensor_type.shape.dim]
            for vi in list(g.value_info) + list(g.output) + list(g.input)}


def _unsqueeze(node: onnx.NodeProto, shapes: dict[str, list[int]], model: onnx.ModelProto) -> onnx.NodeProto | None:
    shape = shapes.get(node.output[0])
    if not shape or len(shape) < 2 or not all(shape[1:]):
        return None
    const = numpy_helper.from_array(np.array([0, *shape[1:]], np.int64), f"{node.output[0]}_shape")
    model.graph.initializer.append(const)
    return helper.make_node("Reshape", [node.input[0], const.name], list(node.output), name=node.name)


def _conv_on_one_pixel(node: onnx.NodeProto, shapes: dict[str, list[int]], model: onnx.ModelProto
                       ) -> onnx.NodeProto | None:
    src, dst = shapes.get(node.input[0]), shapes.get(node.output[0])
    inits = {t.name: t for t in model.graph.initializer}
    if not src or not dst or len(src) != 4 or src[2:] != [1, 1] or dst[2:] != [1, 1] or node.input[1] not in inits:
        return None
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        return None
    w = numpy_helper.to_array(inits[node.input[1]])
    if w.shape[2:] == (1, 1):
        return None
    pads = list(attrs.get("pads", [0, 0, 0, 0]))
    dil = list(attrs.get("dilations", [1, 1]))
    taps = [pads[i] // dil[i] if pads[i] % dil[i] == 0 else -1 for i in range(2)]
    if not all(0 <= t < k for t, k in zip(taps, w.shape[2:])):
        return None
    center = numpy_helper.from_array(np.ascontiguousarray(w[:, :, taps[0]:taps[0] + 1, taps[1]:taps[1] + 1]),
                                     f"{node.input[1]}_1x1")
    model.graph.initializer.append(center)
    keep = {k: v for k, v in attrs.items() if k == "group"}
    return helper.make_node("Conv", [node.input[0], center.name, *node.input[2:]], list(node.output),
                            name=node.name, kernel_shape=[1, 1], **keep)


REWRITES = {"Unsqueeze": _unsqueeze, "Conv": _conv_on_one_pixel}


def cv2_compatible(path: str | Path) -> int:
    """Apply every rewrite of this module to the ONNX file at ``path`` (in place, atomically).

    Returns the number of rewritten nodes (0 leaves the file untouched).
    """
    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    shapes = _shapes(model)
    nodes, n = [], 0
    for node in model.graph.node:
        fn = REWRITES.get(node.op_type)
        new = fn(node, shapes, model) if fn else None
        nodes.append(new or node)
        n += new is not None
    if n:
        del model.graph.node[:]
        model.graph.node.extend(nodes)
        del model.graph.value_info[:]
        with atomic_open(path, "wb") as f:
            f.write(model.SerializeToString())
    return n
