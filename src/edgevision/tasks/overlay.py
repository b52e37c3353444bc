"""Label maps as JSON (run-length encoding) and as translucent overlays on an image."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np


def palette(n: int) -> np.ndarray:
    """(n, 3) uint8 RGB colours: the PASCAL VOC bit-interleaved colour map (distinct for neighbouring ids)."""
    ids = np.arange(n)
    pal = np.zeros((n, 3), np.int64)
    for shift in range(8):
        for ch in range(3):
            pal[:, ch] |= ((ids >> (3 * shift + ch)) & 1) << (7 - shift)
    return pal.astype(np.uint8)


def rle_encode(labels: np.ndarray) -> dict[str, Any]:
    """Row-major run-length encoding of an (H, W) label map: ``{"size": [H, W], "values": [...], "lengths": [...]}``."""
    flat = np.asarray(labels).ravel()
    if flat.size == 0:
        return {"size": list(labels.shape), "values": [], "lengths": []}
    starts = np.flatnonzero(np.r_[True, flat[1:] != flat[:-1]])
    lengths = np.diff(np.r_[starts, flat.size])
    return {"size": [int(s) for s in labels.shape], "values": flat[starts].tolist(), "lengths": lengths.tolist()}


def rle_decode(rle: dict[str, Any]) -> np.ndarray:
    """Inverse of :func:`rle_encode`: the (H, W) label map (int32)."""
    h, w = rle["size"]
    return np.repeat(np.asarray(rle["values"], np.int32), np.asarray(rle["lengths"], np.int64)).reshape(h, w)


def overlay(image: np.ndarray, labels: np.ndarray, class_names: list[str], alpha: float = 0.5,
            skip: tuple[int, ...] = (0,)) -> np.ndarray:
    """Blend class colours over an RGB image (H, W, 3) where ``labels`` (any size) is not in ``skip``; class
    boundaries are drawn opaque, and a legend lists the classes present with their area.

    Colours, the blend mask and the boundaries are computed on the label map and nearest-resized to the image with
    OpenCV, so a 640×480 video frame takes a few milliseconds.
    """
    h, w = image.shape[:2]
    labels = np.clip(labels.astype(np.int32, copy=False), 0, None)
    pal = palette(max(len(class_names), int(labels.max()) + 1 if labels.size else 1))
    on = labels != skip[0] if len(skip) == 1 else ~np.isin(labels, skip)
    edge = np.zeros(labels.shape, bool)  # class boundaries: a label differs from its right or lower neighbour
    edge[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    edge[:-1, :] |= labels[:-1, :] != labels[1:, :]
    edge &= on
    counts = np.bincount(labels.ravel(), minlength=len(pal))

    def fit(a: np.ndarray) -> np.ndarray:
        return a if a.shape[:2] == (h, w) else cv2.resize(a, (w, h), interpolation=cv2.INTER_NEAREST)

    colour = fit(pal[labels])
    out = np.ascontiguousarray(image).copy()
    blend = cv2.addWeighted(out, 1 - alpha, colour, alpha, 0)
    cv2.copyTo(blend, fit(on.astype(np.uint8)), out)
    cv2.copyTo(colour, fit(edge.astype(np.uint8)), out)
    return _legend(out, counts, class_names, pal, skip)


def _legend(img: np.ndarray, counts: np.ndarray, names: list[str], pal: np.ndarray, skip: tuple[int, ...],
            max_rows: int = 8) -> np.ndarray:
    total = max(int(counts.sum()), 1)
    rows = [(int(i), int(c) / total) for i, c in enumerate(counts) if c and i not in skip]
    rows.sort(key=lambda r: -r[1])
    scale = max(0.4, img.shape[1] / 900)
    step = int(18 * scale) + 4
    for k, (i, frac) in enumerate(rows[:max_rows]):
        y = 4 + k * step
        name = names[i] if i < len(names) else f"class{i}"
        col = tuple(int(v) for v in pal[i])
        cv2.rectangle(img, (4, y), (4 + step - 4, y + step - 4), col, -1)
        cv2.putText(img, f"{name} {frac:.0%}", (8 + step, y + step - 7), cv2.FONT_HERSHEY_SIMPLEX, 0.45 * scale,
                    (255, 255, 255), 2, cv2.LINE_AA)
        cv2.putText(img, f"{name} {frac:.0%}", (8 + step, y + step - 7), cv2.FONT_HERSHEY_SIMPLEX, 0.45 * scale,
                    (0, 0, 0), 1, cv2.LINE_AA)
    return img
