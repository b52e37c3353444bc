"""Minimal Penn-Fudan pedestrian reader (Wang et al., ACCV 2007): images and person boxes, straight from the zip.

The detection issue replaces this with a full reader; keep the return type (:class:`PersonImage`).
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import DataError
from .paths import open_zip

_BOX = re.compile(r"Bounding box for object \d+ .*: \((\d+), (\d+)\) - \((\d+), (\d+)\)")


@dataclass(frozen=True)
class PersonImage:
    """One image of a detection set, reduced to what presence labels need: pixels and person boxes."""

    key: str  # stable name inside the source, e.g. "pennfudan/FudanPed00001"
    image: np.ndarray  # RGB uint8 (H, W, 3)
    boxes: np.ndarray  # float32 (N, 4) xyxy pixel edges of every person


def decode(z: zipfile.ZipFile, name: str) -> np.ndarray:
    """Decode an image member of a zip to RGB uint8, or raise a one-line DataError."""
    img = cv2.imdecode(np.frombuffer(z.read(name), np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise DataError(f"{z.filename}: cannot decode {name}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def parse_annotation(text: str) -> np.ndarray:
    """Boxes of a PASCAL-v1 annotation: 1-based inclusive (Xmin, Ymin)-(Xmax, Ymax) → 0-based edges (N, 4)."""
    rows = [[int(v) for v in m.groups()] for m in _BOX.finditer(text)]
    b = np.asarray(rows, np.float32).reshape(-1, 4)
    b[:, :2] -= 1
    return b


def read_pennfudan(path: Path) -> list[PersonImage]:
    """All 170 images of ``PennFudanPed.zip`` with their pedestrian boxes, in file-name order."""
    with open_zip(path) as z:
        names = set(z.namelist())
        anns = sorted(n for n in names if "/Annotation/" in n and n.endswith(".txt"))
        if not anns:
            raise DataError(f"{path}: no PennFudanPed/Annotation/*.txt inside; is this PennFudanPed.zip?")
        out = []
        for ann in anns:
            stem = Path(ann).stem
            img_name = ann.replace("/Annotation/", "/PNGImages/").replace(".txt", ".png")
            if img_name not in names:
                raise DataError(f"{path}: {ann} has no image {img_name}")
            out.append(PersonImage(f"pennfudan/{stem}", decode(z, img_name), parse_annotation(z.read(ann).decode())))
    return out
