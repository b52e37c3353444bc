"""Anchor-free points and their decode in NumPy (a deployed AFDet needs no torch); see :mod:`edgevision.models.afdet`.

Level l at stride s_l has (H/s_l)·(W/s_l) points, row-major, levels in stride order; the point of cell (i, j) is
((j + 0.5)·s, (i + 0.5)·s) in input pixels. A raw output (B, N, 4·(R + 1) + C) decodes as

    d_k = s · Σ_{i=0..R} i · softmax(bins_k)_i   (k = l, t, r, b; the DFL expectation, Li et al. 2020)
    box = (x − d_l, y − d_t, x + d_r, y + d_b),   scores = σ(class logits).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .boxes import clip_boxes
from .postprocess import sigmoid, softmax


def level_sizes(input_hw: Sequence[int], strides: Sequence[int]) -> list[tuple[int, int]]:
    """(H_l, W_l) per level; the sides must be multiples of the largest stride."""
    h, w = int(input_hw[0]), int(input_hw[1])
    if h % max(strides) or w % max(strides):
        raise ValueError(f"input {h}x{w}: an anchor-free detector needs sides that are multiples of {max(strides)}")
    return [(h // s, w // s) for s in strides]


def make_points(input_hw: Sequence[int], strides: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Point centres (N, 2) as (x, y) pixels and their strides (N,), in the model's output order."""
    pts, st = [], []
    for (hl, wl), s in zip(level_sizes(input_hw, strides), strides):
        ys, xs = np.meshgrid(np.arange(hl, dtype=np.float32), np.arange(wl, dtype=np.float32), indexing="ij")
        pts.append(np.stack([xs.ravel() + 0.5, ys.ravel() + 0.5], 1) * s)
        st.append(np.full(hl * wl, s, np.float32))
    return np.concatenate(pts).astype(np.float32), np.concatenate(st)


def decode_points(raw: np.ndarray, input_hw: Sequence[int], strides: Sequence[int], reg_max: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Raw AFDet output (B, N, 4(R+1) + C) → boxes (B, N, 4) xyxy in input pixels, clipped, and scores (B, N, C)."""
    raw = np.asarray(raw, np.float32)
    b, n, _ = raw.shape
    pts, st = make_points(input_hw, strides)
    if n != len(pts):
        raise ValueError(f"output has {n} points, input {input_hw[0]}x{input_hw[1]} at strides {list(strides)} "
                         f"gives {len(pts)}")
    nb = 4 * (reg_max + 1)
    prob = softmax(raw[..., :nb].reshape(b, n, 4, reg_max + 1))
    dist = (prob @ np.arange(reg_max + 1, dtype=np.float32)) * st[None, :, None]
    boxes = np.concatenate([pts[None] - dist[..., :2], pts[None] + dist[..., 2:]], -1)
    return clip_boxes(boxes, int(input_hw[0]), int(input_hw[1])).astype(np.float32), sigmoid(raw[..., nb:])
