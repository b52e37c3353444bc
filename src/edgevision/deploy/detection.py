"""Exporting a detector (SqueezeDet's anchors or AFDet's points) to ONNX, with the decode either in the graph or
in NumPy post-processing.

- ``decode="graph"``: the graph ends with the anchor decode and the scores, output (B, A, 4 + C) =
  ``[x1, y1, x2, y2, score per class]`` in input pixels (score = σ(conf)·softmax(class)); only top-N, NMS and the
  threshold remain, in NumPy.
- ``decode="numpy"``: the graph is the bare network, output (B, K·(5 + C), Hf, Wf); the whole post-processing of
  :mod:`edgevision.ops.postprocess` runs in NumPy.

An anchor-free AFDet (task ``head="points"``) exports the same two ways: :class:`DecodedPointDetector` ends the graph
with points ∓ stride·E[bins] and σ(class), output (B, N, 4 + C) in input pixels; ``numpy`` keeps (B, N, 4(R+1) + C)
and :func:`edgevision.ops.points.decode_points` runs after it.

Either way a sidecar ``<name>.json`` holds what post-processing needs (anchors, classes, input size, thresholds,
normalization), and :class:`~edgevision.deploy.detector_runtime.OnnxDetector` runs the pair in onnxruntime or
OpenCV's ``cv2.dnn`` without torch. Both graphs are checked against PyTorch after export.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from ..errors import EdgevisionError
from ..ops.anchors import grid_anchors
from ..ops.points import make_points
from ..ops.torch_boxes import cxcywh_to_xyxy, decode
from ..utils.io import write_json
from .onnx import export_onnx, ort_session, parity

SIDECAR_FORMAT = "edgevision.detector"


class DecodedDetector(nn.Module):
    """Wraps a SqueezeDet so its output is decoded boxes and scores, (B, A, 4 + C), for a fixed input size."""

    def __init__(self, model: nn.Module, anchors_wh: np.ndarray, input_hw: tuple[int, int]) -> None:
        super().__init__()
        self.model = model.eval()
        self.k = len(anchors_wh)
        with torch.no_grad():
            hf, wf = model(torch.zeros(1, model_in_channels(model), *input_hw)).shape[-2:]
        self.hf, self.wf, self.input_hw = int(hf), int(wf), input_hw
        self.register_buffer("anchors", torch.from_numpy(grid_anchors(self.hf, self.wf, input_hw, anchors_wh)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raw = self.model(x)
        per = raw.shape[1] // self.k
        # (B, K·per, Hf, Wf) → (B, Hf, Wf, K·per) → (B, A, per): at most 4-D, which cv2.dnn handles
        y = raw.permute(0, 2, 3, 1).reshape(-1, self.hf * self.wf * self.k, per)
        boxes = cxcywh_to_xyxy(decode(y[..., :4], self.anchors))
        h, w = self.input_hw
        limit = torch.tensor([w, h, w, h], dtype=boxes.dtype)
        boxes = torch.minimum(torch.relu(boxes), limit)  # clip to the image (Relu/Min export everywhere)
        scores = torch.sigmoid(y[..., 4:5]) * torch.softmax(y[..., 5:], -1)
        return torch.cat([boxes, scores], -1)


class DecodedPointDetector(nn.Module):
    """Wraps an AFDet so its output is decoded boxes and scores, (B, N, 4 + C), for a fixed input size."""

    def __init__(self, model: nn.Module, input_hw: tuple[int, int], strides: list[int], reg_max: int) -> None:
        super().__init__()
        self.model, self.input_hw, self.reg_max = model.eval(), input_hw, reg_max
        pts, st = make_points(input_hw, strides)
        self.register_buffer("points", torch.from_numpy(pts))
        self.register_buffer("strides", torch.from_numpy(st)[:, None])
        self.register_buffer("proj", torch.arange(reg_max + 1, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raw = self.model(x)
        n, r1 = raw.shape[1], self.reg_max + 1
        bins = raw[..., :4 * r1].reshape(-1, n * 4, r1)  # 3-D for cv2.dnn: (B, N·4, R+1)
        dist = (torch.softmax(bins, -1) * self.proj).sum(-1).reshape(-1, n, 4) * self.strides
        boxes = torch.cat([self.points - dist[..., :2], self.points + dist[..., 2:]], -1)
        h, w = self.input_hw
        boxes = torch.minimum(torch.relu(boxes), torch.tensor([w, h, w, h], dtype=boxes.dtype))
        return torch.cat([boxes, torch.sigmoid(raw[..., 4 * r1:])], -1)


def decoded_graph(model: nn.Module, task: dict[str, Any], input_hw: tuple[int, int]) -> nn.Module:
    """The decode-in-graph wrapper for the task's head."""
    if task.get("head") == "points":
        return DecodedPointDetector(model, input_hw, list(task.get("strides", [8, 16, 32])),
                                    int(task.get("reg_max", 8)))
    return DecodedDetector(model, np.asarray(task["anchors"], np.float32), input_hw)


def model_in_channels(model: nn.Module) -> int:
    first = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    return first.in_channels


def export_detector(model: nn.Module, path: str | Path, task: dict[str, Any], preprocess: dict[str, Any],
                    decode_in: Literal["graph", "numpy"] = "graph", dynamic_batch: bool = True,
                    check: bool = True) -> tuple[Path, Path]:
    """Export a detector and its sidecar; returns (onnx path, sidecar path).

    Args:
        model: a SqueezeDet-family model (raw ConvDet output).
        path: the ``.onnx`` file to write; the sidecar is the same name with ``.json``.
        task: the detection task dict saved with the artifact (``anchors``, ``class_names``, thresholds).
        preprocess: the artifact's preprocessing (``input_size``, ``mean``, ``std``, ...).
        decode_in: ``graph`` or ``numpy`` (see the module doc).
        dynamic_batch: a dynamic batch axis (OpenCV's ``cv2.dnn`` wants ``False``).
        check: compare onnxruntime with PyTorch; raise if they differ by more than 1e-3 (logits) or
            1e-4 × the input side (pixels).
    """
    if task.get("name") != "detection":
        raise EdgevisionError(f"export_detector needs a detection model, got task {task.get('name')!r}")
    h, w = (int(v) for v in preprocess["input_size"])
    net = decoded_graph(model, task, (h, w)) if decode_in == "graph" else model.eval()
    shape = (int(preprocess["channels"]), h, w)
    path = export_onnx(net, path, shape, dynamic_batch=dynamic_batch)
    # raw logits are O(10); decoded boxes are pixels (up to the input side), so allow the same relative error
    tol = 1e-3 if decode_in == "numpy" else 1e-4 * max(h, w)
    if check and (err := parity(net, ort_session(path, 1), shape, batch=2 if dynamic_batch else 1)) > tol:
        raise EdgevisionError(f"{path}: onnxruntime differs from PyTorch by {err:.2e} (> {tol:.1e}) after export")
    side = write_json(Path(path).with_suffix(".json"), sidecar(task, preprocess, decode_in))
    return Path(path), side


def sidecar(task: dict[str, Any], preprocess: dict[str, Any], decode_in: str) -> dict[str, Any]:
    keys = ("top_n", "nms_iou", "score_threshold")
    defaults = {"top_n": 64, "nms_iou": 0.45, "score_threshold": 0.3}
    head = {"head": "points", "strides": list(task.get("strides", [8, 16, 32])),
            "reg_max": int(task.get("reg_max", 8))} if task.get("head") == "points" else {}
    return {"format": SIDECAR_FORMAT, "decode": decode_in, "class_names": list(task["class_names"]),
            "anchors": [list(map(float, a)) for a in task["anchors"]], **head,
            "postprocess": {k: task.get(k, defaults[k]) for k in keys}, "preprocess": preprocess}
