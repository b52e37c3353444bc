"""``synthetic:shapes`` — a procedural dataset the package generates itself (the quickstart default).

Each sample draws one or more shapes from ``SHAPES`` with a random colour (kept apart from the background's),
scale, rotation and position over a textured background (gradient, stripes, blobs or checker), adds small
occluders and Gaussian noise. Everything is drawn with OpenCV on small images and is deterministic in
``(seed, index)``: sample *i* is the same no matter which other samples are generated, or in what order.

Every sample also carries its targets for all tasks: ``label`` (the first shape's class), ``boxes``/``labels``
(tight xyxy boxes of the visible pixels of each shape), and ``mask`` (0 = background, c+1 = shape class c).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

SHAPES = ("circle", "square", "triangle", "star", "cross", "hexagon", "ring", "crescent", "arrow", "pentagon")


def _regular(n: int, r: float, phase: float = 0.0) -> np.ndarray:
    t = phase + np.arange(n) * 2 * np.pi / n
    return np.stack([np.cos(t), np.sin(t)], 1) * r


def _outline(kind: str, r: float) -> np.ndarray | None:
    """Polygon vertices (K, 2) around the origin for polygonal shapes, None for round ones."""
    if kind == "square":
        return _regular(4, r, np.pi / 4)
    if kind == "triangle":
        return _regular(3, r, -np.pi / 2)
    if kind == "pentagon":
        return _regular(5, r, -np.pi / 2)
    if kind == "hexagon":
        return _regular(6, r)
    if kind == "star":
        outer, inner = _regular(5, r, -np.pi / 2), _regular(5, r * 0.42, -np.pi / 2 + np.pi / 5)
        return np.stack([outer, inner], 1).reshape(-1, 2)
    if kind == "cross":
        a, b = r, r * 0.33
        return np.array([[-b, -a], [b, -a], [b, -b], [a, -b], [a, b], [b, b], [b, a], [-b, a], [-b, b], [-a, b],
                         [-a, -b], [-b, -b]])
    if kind == "arrow":
        return np.array([[-r, -0.3 * r], [0.1 * r, -0.3 * r], [0.1 * r, -0.75 * r], [r, 0], [0.1 * r, 0.75 * r],
                         [0.1 * r, 0.3 * r], [-r, 0.3 * r]])
    return None


def draw_shape(mask: np.ndarray, kind: str, cx: float, cy: float, r: float, angle: float) -> None:
    """Rasterize one shape as 1s into ``mask`` (H, W uint8) in place."""
    poly = _outline(kind, r)
    if poly is not None:
        c, s = np.cos(angle), np.sin(angle)
        pts = poly @ np.array([[c, s], [-s, c]]) + [cx, cy]
        cv2.fillPoly(mask, [np.round(pts * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
        return
    centre = (round(cx * 16), round(cy * 16))
    cv2.circle(mask, centre, round(r * 16), 1, -1, shift=4)
    if kind == "ring":
        cv2.circle(mask, centre, round(r * 0.55 * 16), 0, -1, shift=4)
    elif kind == "crescent":
        dx, dy = 0.45 * r * np.cos(angle), 0.45 * r * np.sin(angle)
        cv2.circle(mask, (round((cx + dx) * 16), round((cy + dy) * 16)), round(r * 0.85 * 16), 0, -1, shift=4)


@functools.lru_cache(maxsize=8)
def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return yy, xx


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A textured RGB background (float32, 0–255)."""
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    yy, xx = _grid(h, w)
    kind = rng.integers(4)
    if kind == 0:  # linear gradient at a random angle
        t = np.cos(rng.uniform(0, np.pi)) * xx / w + np.sin(rng.uniform(0, np.pi)) * yy / h
        t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
    elif kind == 1:  # stripes
        f, th = rng.uniform(2, 8), rng.uniform(0, np.pi)
        t = 0.5 + 0.5 * np.sin(2 * np.pi * f * (np.cos(th) * xx / w + np.sin(th) * yy / h))
    elif kind == 2:  # low-frequency blobs
        t = cv2.resize(rng.random((4, 4)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 1)
    else:  # checker
        k = int(rng.integers(4, 12))
        t = ((xx // k + yy // k) % 2).astype(np.float32)
    t = 0.35 * t[..., None]  # keep texture contrast below shape contrast
    return (c0.astype(np.float32) * (1 - t) + c1.astype(np.float32) * t).astype(np.float32)


def _shape_colour(rng: np.random.Generator, bg_mean: np.ndarray) -> np.ndarray:
    """A colour at least ~90 (RGB L2) away from the background mean, so shapes stay visible."""
    for _ in range(20):
        col = rng.uniform(0, 255, 3)
        if np.linalg.norm(col - bg_mean) > 90:
            return col
    return 255 - bg_mean


@dataclass(frozen=True)
class ShapesGenerator:
    """Deterministic generator of shape images with class labels, boxes and masks.

    Args:
        num_classes: how many of ``SHAPES`` to use (2–10).
        size: image side in pixels.
        seed: base seed; sample i uses ``default_rng([seed, i])``.
        max_objects: 1 gives one centred-ish shape per image (classification/localization); >1 scatters
            1..max_objects shapes (detection/segmentation).
        occluders: maximum number of occluding bars per image.
        noise: maximum Gaussian noise σ on the 0–255 scale.
    """

    num_classes: int = 6
    size: int = 48
    seed: int = 0
    max_objects: int = 1
    occluders: int = 2
    noise: float = 10.0
    channels: int = 3

    def __post_init__(self) -> None:
        if not 2 <= self.num_classes <= len(SHAPES):
            raise ValueError(f"num_classes must be in 2..{len(SHAPES)}, got {self.num_classes}")

    @property
    def class_names(self) -> list[str]:
        return list(SHAPES[: self.num_classes])

    def sample(self, index: int) -> dict[str, np.ndarray | int]:
        """Return ``image`` (H, W, C uint8), ``label``, ``boxes`` (N, 4), ``labels`` (N,), ``mask`` (H, W)."""
        rng = np.random.default_rng([self.seed, index])
        h = w = self.size
        img = _background(rng, h, w)
        bg_mean = img.reshape(-1, 3).mean(0)
        seg = np.zeros((h, w), np.uint8)
        n_obj = 1 if self.max_objects == 1 else int(rng.integers(1, self.max_objects + 1))
        classes = rng.integers(self.num_classes, size=n_obj)
        shape_masks = []
        for c in classes:
            m = self._place(rng, int(c), n_obj)
            col = _shape_colour(rng, bg_mean)
            shade = 1 + 0.15 * (np.linspace(-1, 1, w, dtype=np.float32)[None, :, None] * rng.uniform(-1, 1))
            img = np.where(m[..., None] > 0, (col * shade).astype(np.float32), img)  # mildly shaded fill
            for prev in shape_masks:  # later shapes occlude earlier ones
                prev[m > 0] = 0
            shape_masks.append(m)
            seg[m > 0] = c + 1
        areas = [int(m.sum()) for m in shape_masks]
        img = self._occlude(rng, img, seg, shape_masks)
        img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(rng.uniform(0, self.noise))
        img = np.clip(img, 0, 255).astype(np.uint8)
        if self.channels == 1:
            img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)[..., None]
        boxes, labels = _boxes(shape_masks, classes, areas)
        return {"image": img, "label": int(classes[0]), "boxes": boxes, "labels": labels, "mask": seg}

    def _place(self, rng: np.random.Generator, cls: int, n_obj: int) -> np.ndarray:
        s = self.size
        lo, hi = (0.22, 0.42) if n_obj == 1 else (0.10, 0.22)
        r = rng.uniform(lo, hi) * s
        margin = r * 0.8
        cx, cy = rng.uniform(margin, s - margin, 2)
        m = np.zeros((s, s), np.uint8)
        draw_shape(m, SHAPES[cls], cx, cy, r, rng.uniform(0, 2 * np.pi))
        return m

    def _occlude(self, rng: np.random.Generator, img: np.ndarray, seg: np.ndarray, masks: list) -> np.ndarray:
        """Draw up to ``occluders`` thin bars; pixels they cover leave the shape masks."""
        s = self.size
        for _ in range(int(rng.integers(0, self.occluders + 1))):
            occ = np.zeros((s, s), np.uint8)
            p0, p1 = rng.uniform(0, s, 2), rng.uniform(0, s, 2)
            cv2.line(occ, tuple(int(v) for v in p0), tuple(int(v) for v in p1), 1, max(1, int(s * 0.04)))
            img = np.where(occ[..., None] > 0, rng.uniform(0, 255, 3).astype(np.float32), img)
            seg[occ > 0] = 0
            for m in masks:
                m[occ > 0] = 0
        return img


def _boxes(masks: list[np.ndarray], classes: np.ndarray, areas: list[int],
           min_visible: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Tight xyxy boxes (pixel edges, x2/y2 exclusive) of each shape's visible pixels.

    Shapes with less than ``min_visible`` of their area left after occlusion get no box.
    """
    boxes, labels = [], []
    for m, c, area in zip(masks, classes, areas):
        x, y, bw, bh = cv2.boundingRect(m)
        if bw > 0 and bh > 0 and m.sum() >= min_visible * max(area, 1):
            boxes.append([x, y, x + bw, y + bh])
            labels.append(int(c))
    return np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(labels, np.int64)
