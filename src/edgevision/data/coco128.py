"""Minimal COCO128 reader (YOLO labels, COCO class 0 = person): images and person boxes, straight from the zip.

A full COCO/YOLO reader can replace this if it keeps the return type (:class:`PersonImage`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError
from .paths import open_zip
from .persons import PersonImage, decode
from .yolo import report_orphans

PERSON = 0  # YOLO class id of "person" in COCO's 80-class list


def yolo_person_boxes(text: str, width: int, height: int, cls: int = PERSON) -> np.ndarray:
    """``"<class> <xc> <yc> <w> <h>"`` lines (normalized) → xyxy pixel boxes (N, 4) of class ``cls``."""
    rows = [r.split() for r in text.splitlines() if r.strip()]
    v = np.asarray([[float(x) for x in r[1:5]] for r in rows if int(r[0]) == cls], np.float32).reshape(-1, 4)
    xc, yc, w, h = v[:, 0] * width, v[:, 1] * height, v[:, 2] * width, v[:, 3] * height
    return np.stack([xc - w / 2, yc - h / 2, xc + w / 2, yc + h / 2], 1).astype(np.float32)


def _label_of(image: str) -> str:
    return image.replace("/images/", "/labels/").rsplit(".", 1)[0] + ".txt"


def _orphans(path: Path, names: set[str], imgs: list[str]) -> None:
    """Report label files without an image and images without a label (COCO128 has two of each) once."""
    wanted = {_label_of(n) for n in imgs}
    lonely_labels = sorted(Path(n).name for n in names if "/labels/" in n and n.endswith(".txt") and n not in wanted)
    lonely_images = sorted(Path(n).name for n in imgs if _label_of(n) not in names)
    report_orphans(f"coco128 {path}", lonely_labels, lonely_images)


def read_coco128(path: Path) -> list[PersonImage]:
    """All 128 images of ``coco128.zip`` with their person boxes (an image without a label file has none)."""
    with open_zip(path) as z:
        names = set(z.namelist())
        imgs = sorted(n for n in names if "/images/" in n and n.endswith(".jpg"))
        if not imgs:
            raise DataError(f"{path}: no coco128/images/*/*.jpg inside; is this coco128.zip?")
        _orphans(path, names, imgs)
        out = []
        for name in imgs:
            img = decode(z, name)
            lab = _label_of(name)
            text = z.read(lab).decode() if lab in names else ""
            boxes = yolo_person_boxes(text, img.shape[1], img.shape[0])
            out.append(PersonImage(f"coco128/{Path(name).stem}", img, boxes))
    return out
