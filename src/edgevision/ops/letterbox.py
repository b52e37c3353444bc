"""How an image of any size becomes the model input, and how boxes go back: ``stretch`` or ``letterbox``.

``stretch`` resizes h×w to the input H×W per axis (the aspect ratio changes). ``letterbox`` (as YOLO's) keeps it:
the image is scaled by r = min(H/h, W/w) to (nh, nw) = (round(h·r), round(w·r)) and centred on an H×W canvas of
grey ``LETTERBOX_PAD`` at (top, left) = (⌊(H − nh)/2⌋, ⌊(W − nw)/2⌋). A pixel-edge box maps as

    x_in = x · nw / w + left,   y_in = y · nh / h + top      and back   x = (x_in − left) · w / nw, ...

(stretch is the same with nh, nw = H, W and no offset). NumPy and OpenCV only: the ONNX runtime uses it too.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

RESIZE_MODES = ("stretch", "letterbox")
LETTERBOX_PAD = 114  # the grey of the padding, 0–255 (YOLO's)


@dataclass(frozen=True)
class Fit:
    """Where an h×w image lies in the model input: resized to (nh, nw) with its top-left corner at (top, left)."""

    h: int
    w: int
    nh: int
    nw: int
    top: int = 0
    left: int = 0

    def to_input(self, boxes: np.ndarray) -> np.ndarray:
        """Pixel xyxy boxes (N, 4) of the image → input pixels."""
        s = np.array([self.nw / self.w, self.nh / self.h] * 2, np.float32)
        return np.asarray(boxes, np.float32).reshape(-1, 4) * s + np.array([self.left, self.top] * 2, np.float32)

    def to_image(self, boxes: np.ndarray) -> np.ndarray:
        """Input-pixel xyxy boxes (N, 4) → pixels of the image, clipped to it (letterbox padding maps outside)."""
        s = np.array([self.w / self.nw, self.h / self.nh] * 2, np.float32)
        b = (np.asarray(boxes, np.float32).reshape(-1, 4) - np.array([self.left, self.top] * 2, np.float32)) * s
        return np.clip(b, 0, np.array([self.w, self.h] * 2, np.float32))


def fit(hw: tuple[int, int], size: tuple[int, int], mode: str = "stretch") -> Fit:
    """The :class:`Fit` of an image of (h, w) into an input of ``size`` (H, W) under ``mode``."""
    h, w = int(hw[0]), int(hw[1])
    big_h, big_w = int(size[0]), int(size[1])
    if mode == "stretch":
        return Fit(h, w, big_h, big_w)
    if mode != "letterbox":
        raise ValueError(f"resize mode {mode!r}: expected one of {', '.join(RESIZE_MODES)}")
    r = min(big_h / h, big_w / w)
    nh, nw = min(big_h, max(1, round(h * r))), min(big_w, max(1, round(w * r)))
    return Fit(h, w, nh, nw, (big_h - nh) // 2, (big_w - nw) // 2)


def resize_record(mode: str) -> dict[str, object]:
    """The preprocessing keys that say how images become the input: ``resize`` (and the letterbox ``pad``)."""
    return {"resize": mode, **({"pad": LETTERBOX_PAD} if mode == "letterbox" else {})}


def fit_image(img: np.ndarray, size: tuple[int, int], mode: str = "stretch", nearest: bool = False,
              pad: int = LETTERBOX_PAD) -> np.ndarray:
    """(h, w[, C]) uint8 → (H, W[, C]): area averaging when shrinking, bilinear when growing (nearest for labels);
    letterbox pads with ``pad`` (use 0 for label masks)."""
    f = fit(img.shape[:2], size, mode)
    if (f.nh, f.nw) == img.shape[:2]:
        small = img
    else:
        interp = cv2.INTER_NEAREST if nearest else (cv2.INTER_AREA if img.shape[0] > f.nh else cv2.INTER_LINEAR)
        small = cv2.resize(img, (f.nw, f.nh), interpolation=interp)
        small = small.reshape(f.nh, f.nw, *img.shape[2:])
    if (f.nh, f.nw) == tuple(size):
        return small
    out = np.full((int(size[0]), int(size[1]), *img.shape[2:]), pad, img.dtype)
    out[f.top:f.top + f.nh, f.left:f.left + f.nw] = small
    return out
