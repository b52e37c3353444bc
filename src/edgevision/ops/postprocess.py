"""SqueezeDet post-processing in NumPy, shared by the task's ``decode`` and by deployed ONNX models.

Raw ConvDet output (B, K·(5 + C), Hf, Wf): for anchor k the channels k·(5+C) … are
``[δx, δy, δw, δh, confidence logit, C class logits]``. Post-processing (OpenCV GSoC 2017):

1. decode the δ against the anchors (:func:`~edgevision.ops.anchors.decode`), clip to the image;
2. score = Pr(object) · Pr(class | object) = σ(conf) · softmax(class logits); each anchor keeps its best class;
3. keep the top N (64) anchors by score;
4. per-class NMS;
5. drop detections under the score threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .anchors import decode, grid_anchors
from .boxes import batched_nms, clip_boxes, cxcywh_to_xyxy


@dataclass(frozen=True)
class PostprocessConfig:
    top_n: int = 64
    nms_iou: float = 0.45
    score_threshold: float = 0.3


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.tanh(0.5 * x))  # overflow-free σ


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def split_raw(raw: np.ndarray, num_anchors: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(B, K(5+C), Hf, Wf) → δ (B, A, 4), confidence logits (B, A), class logits (B, A, C) with A = Hf·Wf·K."""
    b, ch, hf, wf = raw.shape
    per = ch // num_anchors
    x = raw.reshape(b, num_anchors, per, hf, wf).transpose(0, 3, 4, 1, 2).reshape(b, hf * wf * num_anchors, per)
    return x[..., :4], x[..., 4], x[..., 5:]


def decode_raw(raw: np.ndarray, anchors_wh: np.ndarray, input_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Raw ConvDet output → boxes (B, A, 4) xyxy in input pixels, clipped, and scores (B, A, C)."""
    raw = np.asarray(raw, np.float32)
    deltas, conf, cls = split_raw(raw, len(anchors_wh))
    anchors = grid_anchors(raw.shape[2], raw.shape[3], input_hw, anchors_wh)
    boxes = clip_boxes(cxcywh_to_xyxy(decode(deltas, anchors[None])), *input_hw)
    return boxes.astype(np.float32), (sigmoid(conf)[..., None] * softmax(cls)).astype(np.float32)


def select(boxes: np.ndarray, scores: np.ndarray, cfg: PostprocessConfig) -> dict[str, np.ndarray]:
    """One image: boxes (A, 4), scores (A, C) → kept ``boxes`` (N, 4), ``scores`` (N,), ``labels`` (N,)."""
    label = scores.argmax(1)
    score = scores[np.arange(len(scores)), label]
    top = np.argsort(-score, kind="stable")[: cfg.top_n]
    keep = top[batched_nms(boxes[top], score[top], label[top], cfg.nms_iou)]
    keep = keep[score[keep] >= cfg.score_threshold]
    return {"boxes": boxes[keep], "scores": score[keep], "labels": label[keep]}


def postprocess(boxes: np.ndarray, scores: np.ndarray, cfg: PostprocessConfig,
                scale: list[tuple[float, float]] | None = None) -> list[dict[str, np.ndarray]]:
    """Per-image detections from batched boxes (B, A, 4) and scores (B, A, C); ``scale`` = per-image (sy, sx)."""
    out = []
    for i in range(len(boxes)):
        det = select(boxes[i], scores[i], cfg)
        if scale is not None:
            sy, sx = scale[i]
            det["boxes"] = det["boxes"] * np.array([sx, sy, sx, sy], np.float32)
        out.append(det)
    return out
