"""Image file reading that never raises on a bad file (returns None) and handles non-ASCII paths.

OpenCV decodes first (fast); when it cannot — a build without GIF support (OpenCV < 4.11), an unusual TIFF or
WebP flavour — Pillow, a dependency anyway, tries the same bytes, so the common formats do not depend on how
OpenCV was built.
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".pgm", ".ppm", ".pbm", ".tif", ".tiff", ".webp"}


def read_image(path: str | Path, channels: int = 3) -> np.ndarray | None:
    """Decode an image as RGB (H, W, 3) or grey (H, W, 1) uint8; None if the file is missing or corrupt."""
    try:
        buf = np.fromfile(str(path), dtype=np.uint8)
    except OSError:
        return None
    return decode_image(buf, channels)


def decode_image(buf: bytes | np.ndarray, channels: int = 3) -> np.ndarray | None:
    """Decode encoded image bytes as RGB (H, W, 3) or grey (H, W, 1) uint8 (OpenCV, else Pillow); None if neither
    can (GIFs give their first frame)."""
    buf = np.frombuffer(buf, np.uint8) if isinstance(buf, bytes | bytearray | memoryview) else buf
    if buf.size == 0:
        return None
    try:
        img = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR)
    except cv2.error:
        img = None
    if img is None:
        return _pillow_decode(buf, channels)
    return img[..., None] if channels == 1 else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _pillow_decode(buf: np.ndarray, channels: int) -> np.ndarray | None:
    try:
        with Image.open(io.BytesIO(buf.tobytes())) as im:
            im = ImageOps.exif_transpose(im)  # OpenCV's IMREAD_COLOR applies the EXIF orientation too
            img = np.asarray(im.convert("L" if channels == 1 else "RGB"))
    except Exception:  # Pillow's decoders raise many exception types on corrupt data; unreadable means None
        return None
    return img[..., None] if channels == 1 else img


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
