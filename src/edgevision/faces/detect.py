"""Face detection (Viola-Jones Haar cascades, or BlazeFace: :mod:`.blazeface`), cropping with a margin, and
optional eye alignment.

Björgvinsdóttir & Seibold (2016) detects faces with OpenCV's Viola & Jones (2001) cascade, then crops and resizes the
box for the CNN; it does no alignment. Here the cascade (``default`` or ``alt2``) and its parameters are options,
the box grows by ``margin`` on every side before cropping (``side' = side·(1 + 2·margin)``, clipped to the
image), and ``align=True`` rotates the crop so the two eyes found by the Haar eye cascade are level
(angle = atan2(y_r − y_l, x_r − x_l)). A frame without a face gives an empty list; nothing raises.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

import cv2
import numpy as np

from ..configs.faces import DetectorConfig
from ..errors import ConfigError

CASCADES = {"default": "haarcascade_frontalface_default.xml", "alt2": "haarcascade_frontalface_alt2.xml",
            "eye": "haarcascade_eye.xml"}




@lru_cache(maxsize=8)
def cascade(name: str) -> cv2.CascadeClassifier:
    """Load an OpenCV-bundled cascade once per process."""
    if name not in CASCADES:
        raise ConfigError(f"cascade {name!r}: expected one of {', '.join(CASCADES)}")
    c = cv2.CascadeClassifier(cv2.data.haarcascades + CASCADES[name])
    if c.empty():
        raise ConfigError(f"cascade {name!r}: OpenCV could not load {CASCADES[name]}")
    return c


def to_gray(image: np.ndarray, color: Literal["RGB", "BGR"] = "BGR") -> np.ndarray:
    """uint8 (H, W) grey from (H, W), (H, W, 1) or (H, W, 3) in ``color`` order."""
    if image.ndim == 2:
        return image
    if image.shape[2] == 1:
        return image[..., 0]
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY if color == "BGR" else cv2.COLOR_RGB2GRAY)


def detect_faces(gray: np.ndarray, cfg: DetectorConfig | None = None) -> np.ndarray:
    """Face boxes (N, 4) int xyxy in ``gray``'s pixels, largest first; (0, 4) when there is no face (BlazeFace
    also takes an RGB frame)."""
    cfg = cfg or DetectorConfig()
    if cfg.detector == "blazeface":
        from .blazeface import blazeface_boxes

        b, _ = blazeface_boxes(gray, cfg.score_threshold, cfg.nms_iou)
        b = b.round().astype(np.int64)
        return b[np.argsort(-(b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]), kind="stable")]
    h, w = gray.shape[:2]
    s = min(1.0, cfg.detect_width / w) if cfg.detect_width else 1.0
    small = cv2.resize(gray, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA) if s < 1 else gray
    side = max(8, round(cfg.min_size * s))
    found = cascade(cfg.cascade).detectMultiScale(small, cfg.scale_factor, cfg.min_neighbors, minSize=(side, side))
    if len(found) == 0:
        return np.zeros((0, 4), np.int64)
    b = np.asarray(found, np.float64) / s  # (N, 4) xywh at full resolution
    boxes = np.stack([b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]], 1).round().astype(np.int64)
    return boxes[np.argsort(-(b[:, 2] * b[:, 3]), kind="stable")]


def expand(boxes: np.ndarray, margin: float, shape: tuple[int, int]) -> np.ndarray:
    """Grow xyxy boxes (N, 4) by ``margin``·side on every side, clipped to the image (H, W)."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    dw, dh = (b[:, 2] - b[:, 0]) * margin, (b[:, 3] - b[:, 1]) * margin
    out = np.stack([b[:, 0] - dw, b[:, 1] - dh, b[:, 2] + dw, b[:, 3] + dh], 1)
    out[:, 0::2] = out[:, 0::2].clip(0, shape[1])
    out[:, 1::2] = out[:, 1::2].clip(0, shape[0])
    return out.round().astype(np.int64)


def eye_angle(face: np.ndarray) -> float | None:
    """Degrees to rotate a grey face crop so its eyes are level; None unless two eyes are found in the top half."""
    h, w = face.shape[:2]
    top = face[: h // 2]
    eyes = cascade("eye").detectMultiScale(top, 1.1, 3, minSize=(max(4, w // 10), max(4, w // 10)))
    return eye_line_angle(np.asarray(eyes, np.float64).reshape(-1, 4), w)


def eye_line_angle(eyes: np.ndarray, w: int) -> float | None:
    """Angle (degrees) of the line between the two largest eye boxes (xywh (N, 4)) in a face ``w`` px wide."""
    if len(eyes) < 2:
        return None
    e = eyes[np.argsort(-(eyes[:, 2] * eyes[:, 3]))[:2]]  # the two largest candidates
    cx, cy = e[:, 0] + e[:, 2] / 2, e[:, 1] + e[:, 3] / 2
    left, right = np.argsort(cx)
    if cx[right] - cx[left] < w * 0.2:  # one eye found twice
        return None
    ang = float(np.degrees(np.arctan2(cy[right] - cy[left], cx[right] - cx[left])))
    return ang if abs(ang) <= 30 else None  # steeper is a false eye, not a tilted head


def align(face: np.ndarray) -> tuple[np.ndarray, float]:
    """Rotate a grey (or RGB) crop about its centre so the eyes are level; returns (crop, angle) (0 if no eyes)."""
    ang = eye_angle(face if face.ndim == 2 else cv2.cvtColor(face, cv2.COLOR_RGB2GRAY))
    if ang is None:
        return face, 0.0
    h, w = face.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), ang, 1.0)
    return cv2.warpAffine(face, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE), ang


def crop_faces(gray: np.ndarray, boxes: np.ndarray, size: tuple[int, int], cfg: DetectorConfig | None = None
               ) -> np.ndarray:
    """Crops (N, H, W) uint8 at ``size`` (H, W) of the margin-expanded boxes, aligned when ``cfg.align``; a colour
    image (H, W, 3) gives colour crops (N, H, W, 3)."""
    cfg = cfg or DetectorConfig()
    out = np.zeros((len(boxes), *size, *gray.shape[2:]), np.uint8)
    for i, (x0, y0, x1, y1) in enumerate(expand(boxes, cfg.margin, gray.shape[:2])):  # a handful of faces
        face = gray[y0:y1, x0:x1]
        if cfg.align:
            face, _ = align(face)
        out[i] = cv2.resize(face, (size[1], size[0]), interpolation=cv2.INTER_AREA)
    return out


def detect_and_crop(image: np.ndarray, size: tuple[int, int], cfg: DetectorConfig | None = None,
                    color: Literal["RGB", "BGR"] = "BGR") -> tuple[np.ndarray, np.ndarray]:
    """Detect faces in an image and crop them: ``(boxes (N, 4) xyxy, crops (N, H, W) uint8 grey)``."""
    gray = to_gray(image, color)
    colour = image.ndim == 3 and image.shape[2] == 3 and cfg is not None and cfg.detector == "blazeface"
    boxes = detect_faces(cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if colour and color == "BGR" else
                         image if colour else gray, cfg)  # BlazeFace is a colour model; Haar takes grey
    return boxes, crop_faces(gray, boxes, size, cfg)
