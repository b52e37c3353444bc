"""Penn-Fudan pedestrians (Wang et al., ACCV 2007): 170 images, 423 person boxes and instance masks.

Read straight from ``PennFudanPed.zip`` (never extracted into the repo). The held-out split is **fixed** — not
seed dependent — so every benchmark (presence, detection, localization, segmentation) scores on the same 50
test images: stems are ordered by the SHA-1 of their name; the first 50 are test, the next 20 val, the rest
(100) train.

Annotation boxes are 1-based inclusive ``(Xmin, Ymin) - (Xmax, Ymax)``; we store pixel-edge xyxy
``(Xmin − 1, Ymin − 1, Xmax, Ymax)``.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from ..errors import DataError
from ..ops.letterbox import fit, fit_image
from .base import DataSplits, TensorSampleDataset
from .paths import open_zip, require_dataset
from .sources import SOURCES, DataConfig, fingerprint

N_TEST, N_VAL = 50, 20
_BOX = re.compile(r"Bounding box for object (\d+)[^:]*:\s*\((\d+),\s*(\d+)\)\s*-\s*\((\d+),\s*(\d+)\)")


@dataclass(frozen=True)
class PennFudanImage:
    stem: str
    image: np.ndarray  # (H, W, 3) uint8 RGB
    mask: np.ndarray  # (H, W) uint8 instance ids, 0 = background
    boxes: np.ndarray  # (N, 4) float32 xyxy pixel edges


def parse_annotation(text: str, where: str) -> np.ndarray:
    """Boxes (N, 4) from a Penn-Fudan annotation text; a file without boxes is a DataError naming it."""
    found = _BOX.findall(text)
    if not found:
        raise DataError(f"{where}: no 'Bounding box for object' lines (malformed Penn-Fudan annotation)")
    b = np.array([[int(v) for v in f[1:]] for f in found], np.float32)
    if (b[:, 2] < b[:, 0]).any() or (b[:, 3] < b[:, 1]).any():
        raise DataError(f"{where}: a box has Xmax < Xmin or Ymax < Ymin")
    b[:, :2] -= 1
    return b


def _decode(z, name: str, flags: int) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(z.read(name), np.uint8), flags)
    if img is None:
        raise DataError(f"{name}: cannot decode image in the Penn-Fudan archive")
    return img


@functools.lru_cache(maxsize=2)
def read_pennfudan(root: str | None = None) -> tuple[PennFudanImage, ...]:
    """All 170 images with masks and boxes, sorted by stem (cached per process)."""
    folder = Path(root) if root else require_dataset("penn_fudan_ped")
    zpath = folder / "PennFudanPed.zip" if folder.is_dir() else folder
    with open_zip(zpath) as z:
        names = set(z.namelist())
        stems = sorted(Path(n).stem for n in names if n.startswith("PennFudanPed/PNGImages/") and n.endswith(".png"))
        if not stems:
            raise DataError(f"{zpath}: no PennFudanPed/PNGImages/*.png inside")
        out = []
        for s in stems:
            ann = f"PennFudanPed/Annotation/{s}.txt"
            if ann not in names:
                raise DataError(f"{zpath}: missing {ann}")
            boxes = parse_annotation(z.read(ann).decode("latin-1"), f"{zpath}:{ann}")
            img = cv2.cvtColor(_decode(z, f"PennFudanPed/PNGImages/{s}.png", cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            mask = _decode(z, f"PennFudanPed/PedMasks/{s}_mask.png", cv2.IMREAD_UNCHANGED)
            out.append(PennFudanImage(s, img, mask, boxes))
    return tuple(out)


def fixed_split(stems: list[str]) -> dict[str, list[str]]:
    """The fixed held-out split: 50 test, 20 val, the rest train, by SHA-1 order of the stem."""
    order = sorted(stems, key=lambda s: hashlib.sha1(s.encode()).hexdigest())
    return {"test": sorted(order[:N_TEST]), "val": sorted(order[N_TEST:N_TEST + N_VAL]),
            "train": sorted(order[N_TEST + N_VAL:])}


def _scaled(rec: PennFudanImage, size: tuple[int, int], mode: str = "stretch") -> tuple[np.ndarray, np.ndarray,
                                                                                        np.ndarray]:
    boxes = fit(rec.image.shape[:2], size, mode).to_input(rec.boxes)
    mask = fit_image(rec.mask[..., None], size, mode, nearest=True, pad=0)[..., 0]
    return fit_image(rec.image, size, mode), mask, boxes


@SOURCES.register("pennfudan")
def pennfudan_source(arg: str, cfg: DataConfig, task: str) -> DataSplits:
    """Detection (class ``person``) or segmentation (person vs background) at ``input_size`` (default 320²)."""
    if task not in ("detection", "segmentation"):
        raise DataError(f"pennfudan provides detection and segmentation targets, not {task}")
    recs = {r.stem: r for r in read_pennfudan(arg or None)}
    size = cfg.size_hw() or (320, 320)
    parts = fixed_split(list(recs))
    splits = {}
    for name, stems in parts.items():
        arr = [_scaled(recs[s], size, cfg.resize) for s in stems]
        images = torch.from_numpy(np.stack([a[0] for a in arr])).permute(0, 3, 1, 2).contiguous()
        ids = torch.tensor([sorted(recs).index(s) for s in stems])
        if task == "detection":
            targets = {"boxes": [torch.from_numpy(a[2]) for a in arr],
                       "labels": [torch.zeros(len(a[2]), dtype=torch.long) for a in arr]}
            names = ["person"]
        else:
            targets = {"mask": torch.from_numpy((np.stack([a[1] for a in arr]) > 0).astype(np.uint8))}
            names = ["background", "person"]
        fp = fingerprint("pennfudan", size, task, name, *(["letterbox"] if cfg.resize == "letterbox" else []))
        splits[name] = TensorSampleDataset(images, targets, names, fp, ids)
    return DataSplits(splits["train"], splits["val"], splits["test"], names, 3, size, "pennfudan",
                      info={"split": {k: len(v) for k, v in parts.items()}, "stems": parts},
                      resize=cfg.resize if task == "detection" else "stretch")  # segmentation decodes stretched
