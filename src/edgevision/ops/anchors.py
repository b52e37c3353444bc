"""SqueezeDet anchors: the grid of anchor centres, k-means anchor shapes, and the δ encoding (NumPy).

OpenCV GSoC 2017 / Wu et al. 2017 (SqueezeDet), after Redmon & Farhadi 2017 (YOLO9000) for the k-means:

- anchor (x̂, ŷ, ŵ, ĥ): centre of grid cell (i, j) in image pixels, shape k from k-means;
- decode: x = x̂ + ŵ·δx, y = ŷ + ĥ·δy, w = ŵ·exp(δw), h = ĥ·exp(δh);
- encode (targets): δx = (x − x̂)/ŵ, δy = (y − ŷ)/ĥ, δw = log(w/ŵ), δh = log(h/ĥ);
- k-means over ground-truth (w, h) with distance d = 1 − IoU(box, centroid), both centred at the origin.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError

MAX_DELTA_WH = float(np.log(1000.0 / 16))  # clamp on δw, δh before exp, as in Detectron


def grid_anchors(hf: int, wf: int, input_hw: tuple[int, int], wh: np.ndarray) -> np.ndarray:
    """Anchors (hf·wf·K, 4) as (cx, cy, w, h) in input pixels, ordered (row, column, anchor).

    Cell (i, j) has its centre at ((j + ½)·W/wf, (i + ½)·H/hf).
    """
    wh = np.asarray(wh, np.float32).reshape(-1, 2)
    k = len(wh)
    cy = (np.arange(hf, dtype=np.float32) + 0.5) * (input_hw[0] / hf)
    cx = (np.arange(wf, dtype=np.float32) + 0.5) * (input_hw[1] / wf)
    yy, xx = np.meshgrid(cy, cx, indexing="ij")  # (hf, wf)
    centres = np.stack([xx, yy], -1)[:, :, None, :].repeat(k, 2)  # (hf, wf, K, 2)
    shapes = np.broadcast_to(wh, (hf, wf, k, 2))
    return np.concatenate([centres, shapes], -1).reshape(-1, 4).astype(np.float32)


def encode(boxes_cxcywh: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """δ targets (…, 4) of boxes relative to anchors, both (cx, cy, w, h)."""
    return np.stack([(boxes_cxcywh[..., 0] - anchors[..., 0]) / anchors[..., 2],
                     (boxes_cxcywh[..., 1] - anchors[..., 1]) / anchors[..., 3],
                     np.log(boxes_cxcywh[..., 2] / anchors[..., 2]),
                     np.log(boxes_cxcywh[..., 3] / anchors[..., 3])], -1)


def decode(deltas: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """Boxes (…, 4) as (cx, cy, w, h) from δ (…, 4) and anchors (…, 4); the inverse of :func:`encode`."""
    dw = np.minimum(deltas[..., 2], MAX_DELTA_WH)
    dh = np.minimum(deltas[..., 3], MAX_DELTA_WH)
    return np.stack([anchors[..., 0] + anchors[..., 2] * deltas[..., 0],
                     anchors[..., 1] + anchors[..., 3] * deltas[..., 1],
                     anchors[..., 2] * np.exp(dw), anchors[..., 3] * np.exp(dh)], -1)


def shape_iou(wh: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """IoU (N, K) of boxes and centroids given as (w, h) only, i.e. aligned at a common centre."""
    inter = np.minimum(wh[:, None, 0], centroids[None, :, 0]) * np.minimum(wh[:, None, 1], centroids[None, :, 1])
    union = (wh[:, 0] * wh[:, 1])[:, None] + (centroids[:, 0] * centroids[:, 1])[None, :] - inter
    return inter / np.maximum(union, 1e-12)


def _init_plus_plus(wh: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding under d = 1 − IoU: each next centre is drawn with probability ∝ d²."""
    centres = [wh[rng.integers(len(wh))]]
    for _ in range(1, k):
        d = 1 - shape_iou(wh, np.asarray(centres)).max(1)
        p = d**2
        centres.append(wh[rng.choice(len(wh), p=p / p.sum())] if p.sum() > 0 else wh[rng.integers(len(wh))])
    return np.asarray(centres, np.float64)


def kmeans_anchors(wh: np.ndarray, k: int = 9, seed: int = 0, iters: int = 300,
                   restarts: int = 3) -> tuple[np.ndarray, float]:
    """Cluster ground-truth shapes (N, 2) into ``k`` anchors with d = 1 − IoU; return (anchors, mean IoU).

    Lloyd iterations: assign each box to the centroid of highest IoU, move each centroid to the mean (w, h) of
    its boxes (an empty cluster keeps its centroid). The best of ``restarts`` k-means++ seedings is kept.
    Anchors are sorted by area; mean IoU = mean over boxes of the best IoU with any anchor.
    """
    wh = np.asarray(wh, np.float64).reshape(-1, 2)
    wh = wh[(wh > 0).all(1)]
    if len(wh) == 0:
        raise DataError("no ground-truth boxes with positive width and height to cluster into anchors")
    k = min(k, len(np.unique(wh, axis=0)))
    rng = np.random.default_rng(seed)
    best, best_iou = None, -1.0
    for _ in range(restarts):
        c = _init_plus_plus(wh, k, rng)
        for _ in range(iters):
            assign = shape_iou(wh, c).argmax(1)
            sums = np.zeros_like(c)
            np.add.at(sums, assign, wh)
            counts = np.bincount(assign, minlength=k)[:, None]
            new = np.where(counts > 0, sums / np.maximum(counts, 1), c)
            if np.allclose(new, c):
                break
            c = new
        miou = float(shape_iou(wh, c).max(1).mean())
        if miou > best_iou:
            best, best_iou = c, miou
    order = np.argsort(best[:, 0] * best[:, 1], kind="stable")
    return best[order].astype(np.float32), best_iou
