"""Image file reading that never raises on a bad file (returns None) and handles non-ASCII paths."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".pgm", ".ppm", ".pbm", ".tif", ".tiff", ".webp"}


def read_image(path: str | Path, channels: int = 3) -> np.ndarray | None:
    """Decode an image as RGB (H, W, 3) or grey (H, W, 1) uint8; None if the file is missing or corrupt."""
    try:
        buf = np.fromfile(str(path), dtype=np.uint8)
    except OSError:
        return None
    if buf.size == 0:
        return None
    img = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR)
    if img is None:
        return None
    return img[..., None] if channels == 1 else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def resize(img: np.ndarray, size: tuple[int, int], nearest: bool = False) -> np.ndarray:
    """Resize (H, W, C) to ``size`` = (H, W): area averaging when shrinking, bilinear when growing."""
    h, w = size
    if img.shape[:2] == (h, w):
        return img
    interp = cv2.INTER_NEAREST if nearest else (cv2.INTER_AREA if img.shape[0] > h else cv2.INTER_LINEAR)
    out = cv2.resize(img, (w, h), interpolation=interp)
    return out[..., None] if out.ndim == 2 else out


def is_image_file(p: Path) -> bool:
    return p.suffix.lower() in IMAGE_EXTS and p.is_file() and not p.name.startswith(".")
