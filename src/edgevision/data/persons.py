"""Person boxes from detection sets, reduced to what presence labels need (Stanček 2024)."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import DataError
from .pennfudan import read_pennfudan


@dataclass(frozen=True)
class PersonImage:
    """One image of a detection set: pixels and person boxes."""

    key: str  # stable name inside the source, e.g. "pennfudan/FudanPed00001"
    image: np.ndarray  # RGB uint8 (H, W, 3)
    boxes: np.ndarray  # float32 (N, 4) xyxy pixel edges of every person


def decode(z: zipfile.ZipFile, name: str) -> np.ndarray:
    """Decode an image member of a zip to RGB uint8, or raise a one-line DataError."""
    img = cv2.imdecode(np.frombuffer(z.read(name), np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise DataError(f"{z.filename}: cannot decode {name}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def pennfudan_persons(path: Path) -> list[PersonImage]:
    """All 170 Penn-Fudan images with their pedestrian boxes, through the full reader."""

    return [PersonImage(f"pennfudan/{r.stem}", r.image, r.boxes) for r in read_pennfudan(str(path))]
