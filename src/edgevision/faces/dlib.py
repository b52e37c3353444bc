"""dlib-face as the embedder of the gallery verbs (``faces enroll / identify / verify --artifact dlib-face``).

The same interface as :class:`~edgevision.faces.recognize.FaceRecognizer` (``faces``, ``embed``,
``open_gallery``, ``id``, ``dim``), with dlib's own pipeline: its HOG face detector (upsampled once for images
under 500 px, as ``face_recognition`` does), 5 landmarks per face, the aligned 150×150 chip and the 128-d
descriptor (:mod:`edgevision.compress.distill.dlib_face`). ``detect=False`` takes the image as a face crop
and finds the landmarks in its centred 0.8 box. A gallery records ``dlib-face`` as its artifact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from ..compress.distill.dlib_face import CALIBRATION, DIM, NAME, centred_box, dlib_face
from .gallery import Gallery


def to_rgb(image: np.ndarray, color: Literal["RGB", "BGR"] = "BGR") -> np.ndarray:
    """uint8 (H, W, 3) RGB from grey (H, W) / (H, W, 1) or colour in ``color`` order."""
    if image.ndim == 2 or image.shape[2] == 1:
        return np.ascontiguousarray(np.repeat(image.reshape(*image.shape[:2], 1), 3, 2))
    return np.ascontiguousarray(image if color == "RGB" else cv2.cvtColor(image, cv2.COLOR_BGR2RGB))


class DlibRecognizer:
    """dlib's face pipeline behind the recognizer interface; ``crops`` are aligned RGB chips (N, 150, 150, 3)."""

    def __init__(self) -> None:
        self.model = dlib_face()
        self.path = self.name = NAME
        self.id, self.dim, self.detector = self.model.id, DIM, None
        self.calibration: dict[str, Any] | None = dict(CALIBRATION) if CALIBRATION else None  # τ at a stated FAR

    def embed(self, crops: np.ndarray) -> np.ndarray:
        return self.model.embed(crops)

    def faces(self, image: np.ndarray, color: Literal["RGB", "BGR"] = "BGR", detect: bool = True
              ) -> tuple[np.ndarray, np.ndarray]:
        rgb = to_rgb(image, color)
        h, w = rgb.shape[:2]
        boxes = self.model.detect(rgb, 1 if min(h, w) < 500 else 0) if detect else centred_box(h, w, 0.8)
        return boxes, self.model.chips(rgb, boxes)

    def open_gallery(self, db: str | Path, create: bool = True) -> Gallery:
        g = Gallery(db, self.id, self.dim, self.name, create=create)
        if create and "artifact" not in g.meta():
            g.set_meta("artifact", NAME)
        return g
