"""``pennfudan-crops``: single-pedestrian crops of Penn-Fudan for localization (Asplund's (2016) task).

Each person gives square crops whose side is ``scale``·max(w, h) of its box (``scale`` drawn from
``options.scale``) at a random position that keeps the box inside (and the window inside the image when it
fits), so the target box moves and changes size from crop to crop (a constant box cannot score well). Among
``tries`` candidate windows the one that shows the least of the *other* people is kept, so each crop has one
person to find. Windows past the image edge are zero-padded.
Crops come from the images of the **fixed** Penn-Fudan split (50 test images, as every benchmark): the train split
gives ``crops_per_person`` crops per person, val and test one. Deterministic in (seed, image, person, crop).
"""

from __future__ import annotations

import hashlib

import cv2
import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from ..errors import DataError
from ..ops.boxes import area
from .base import DataSplits, TensorSampleDataset
from .pennfudan import PennFudanImage, fixed_split, read_pennfudan
from .sources import SOURCES, DataConfig, fingerprint, options_model


class CropOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    crops_per_person: int = Field(6, ge=1, le=64, description="crops per person in the train split")
    scale: tuple[float, float] = Field((1.1, 1.8), description="window side / max(box w, box h)")
    tries: int = Field(8, ge=1, le=64)


def _rng(seed: int, stem: str, k: int, j: int) -> np.random.Generator:
    h = int(hashlib.sha1(stem.encode()).hexdigest()[:8], 16)
    return np.random.default_rng([seed, h, k, j])


def _origin(lo: float, hi: float, side: float, limit: float, rng: np.random.Generator) -> float:
    """A window start that keeps [lo, hi] inside the window and, when possible, the window inside [0, limit]."""
    a, b = max(hi - side, 0.0), min(lo, limit - side)
    return float(rng.uniform(a, b)) if a <= b else float(rng.uniform(hi - side, lo))


def _window(rec: PennFudanImage, k: int, rng: np.random.Generator, opt: CropOptions) -> np.ndarray:
    """The (x0, y0, side) window for person ``k`` that overlaps the other people least."""
    x1, y1, x2, y2 = rec.boxes[k]
    h, w = rec.image.shape[:2]
    others = np.delete(rec.boxes, k, 0)
    best, best_cost = None, np.inf
    for _ in range(opt.tries):
        side = max(x2 - x1, y2 - y1) * rng.uniform(*opt.scale)
        x0, y0 = _origin(x1, x2, side, w, rng), _origin(y1, y2, side, h, rng)
        win = np.array([x0, y0, x0 + side, y0 + side], np.float32)
        inter = np.clip(np.minimum(others[:, 2:], win[2:]) - np.maximum(others[:, :2], win[:2]), 0, None).prod(1)
        cost = float((inter / np.maximum(area(others), 1)).max()) if len(others) else 0.0
        if cost < best_cost:
            best, best_cost = np.array([x0, y0, side], np.float32), cost
    return best


def crop(rec: PennFudanImage, k: int, win: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The window resampled to size×size (zero padding outside the image) and person k's box in crop pixels."""
    x0, y0, side = (float(v) for v in win)
    s = size / side
    m = np.array([[s, 0, -x0 * s], [0, s, -y0 * s]], np.float32)
    img = cv2.warpAffine(rec.image, m, (size, size), flags=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT)
    box = (rec.boxes[k] - np.array([x0, y0, x0, y0], np.float32)) * s
    return img, np.clip(box, 0, size).astype(np.float32)


@SOURCES.register("pennfudan-crops")
def pennfudan_crops_source(arg: str, cfg: DataConfig, task: str) -> DataSplits:
    """One pedestrian per crop, ``box`` + ``label`` targets (class ``person``), default 128×128."""
    if task != "localization":
        raise DataError(f"pennfudan-crops provides localization targets (one box per image), not {task}; "
                        f"use pennfudan for detection")
    opt: CropOptions = options_model(CropOptions, cfg)
    size = cfg.size_hw() or (128, 128)
    if size[0] != size[1]:
        raise DataError(f"pennfudan-crops makes square crops; got input_size {size[0]}x{size[1]}")
    recs = {r.stem: r for r in read_pennfudan(arg or None)}
    parts = fixed_split(list(recs))
    out = {}
    for name, stems in parts.items():
        n = opt.crops_per_person if name == "train" else 1
        imgs, boxes, ids = [], [], []
        for i, stem in enumerate(stems):
            rec = recs[stem]
            for k in range(len(rec.boxes)):
                for j in range(n):
                    img, box = crop(rec, k, _window(rec, k, _rng(cfg.seed, stem, k, j), opt), size[0])
                    imgs.append(img)
                    boxes.append(box)
                    ids.append((i * 100 + k) * 100 + j)
        images = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).contiguous()
        targets = {"box": torch.from_numpy(np.stack(boxes)), "label": torch.zeros(len(imgs), dtype=torch.long)}
        out[name] = TensorSampleDataset(images, targets, ["person"],
                                        fingerprint("pennfudan-crops", opt.model_dump(), size, cfg.seed, name),
                                        torch.tensor(ids))
    return DataSplits(out["train"], out["val"], out["test"], ["person"], 3, size, "pennfudan-crops",
                      info={"split_images": {k: len(v) for k, v in parts.items()},
                            "crops": {k: len(v) for k, v in out.items()}})
