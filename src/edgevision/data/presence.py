"""``presence:pennfudan+coco128``: a person / no-person classification set built from detection labels.

Stanček (2024) asked "is a person in this image?". Any detection set with person boxes gives samples:

- the **whole image**, labelled *person* when a person box is at least ``min_person`` of the image height,
  *no person* when it has no person box, and skipped when its only people are tiny (ambiguous);
- **person-centred crops**: a square around a person box, ``context`` times its longer side, jittered;
- **random square crops**, labelled by their overlap with the person boxes: *person* when a box has at least
  ``pos_overlap`` of its area inside and fills ``min_person`` of the crop's height, *no person* when every box
  has at most ``neg_overlap`` of its area inside (Penn-Fudan street backgrounds give these negatives),
  skipped otherwise.

Images, not samples, are split (stratified by source and by whether a person is present), so no image and
none of its crops appear in two splits. Everything is a pure function of ``(seed, image name)``. Sample ids
are ``image_index · 64 + k``; ``id // 64`` names the image.
"""

from __future__ import annotations

import functools
import json
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from ..errors import DataError
from ..utils.seed import derive_seed
from .base import DataSplits, TensorSampleDataset
from .coco128 import read_coco128
from .imageio import resize
from .paths import require_dataset
from .persons import PersonImage, pennfudan_persons
from .sources import SOURCES, DataConfig, fingerprint, options_model

CLASS_NAMES = ["no_person", "person"]
SPLITS = ("train", "val", "test")
IDS_PER_IMAGE = 64
# name → (shared dataset folder, archive inside it, reader). VOC or YOLO folders can join the same way.
READERS: dict[str, tuple[str, str, Callable[[Path], list[PersonImage]]]] = {
    "pennfudan": ("penn_fudan_ped", "PennFudanPed.zip", pennfudan_persons),
    "coco128": ("coco128", "coco128.zip", read_coco128),
}


class PresenceOptions(BaseModel):
    """How crops are drawn and labelled (``data.options``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    random_crops: int = Field(10, ge=0, le=40, description="random square crops tried per image")
    person_crops: int = Field(3, ge=0, le=16, description="person-centred crops per image (at most)")
    min_crop: float = Field(0.25, gt=0, le=1, description="smallest random crop side, fraction of min(H, W)")
    max_crop: float = Field(0.8, gt=0, le=1)
    context: tuple[float, float] = (1.1, 1.6)
    pos_overlap: float = Field(0.7, gt=0, le=1, description="box area inside the crop for a positive")
    neg_overlap: float = Field(0.1, ge=0, lt=1, description="max box area inside the crop for a negative")
    min_person: float = Field(0.3, gt=0, le=1, description="person box height / crop (or image) height")
    whole_images: bool = True


def _coverage(boxes: np.ndarray, crop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per box: the fraction of its area inside ``crop`` (x0, y0, x1, y1), and its visible height."""
    ix0, iy0 = np.maximum(boxes[:, 0], crop[0]), np.maximum(boxes[:, 1], crop[1])
    ix1, iy1 = np.minimum(boxes[:, 2], crop[2]), np.minimum(boxes[:, 3], crop[3])
    iw, ih = np.clip(ix1 - ix0, 0, None), np.clip(iy1 - iy0, 0, None)
    area = np.clip((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 1e-6, None)
    return iw * ih / area, ih


def crop_label(boxes: np.ndarray, crop: np.ndarray, opt: PresenceOptions) -> int | None:
    """1 (person), 0 (no person) or None (ambiguous) for a crop (x0, y0, x1, y1) given person boxes (N, 4)."""
    if len(boxes) == 0:
        return 0
    cov, vis_h = _coverage(boxes, crop)
    if np.any((cov >= opt.pos_overlap) & (vis_h >= opt.min_person * (crop[3] - crop[1]))):
        return 1
    return 0 if np.all(cov <= opt.neg_overlap) else None


def _square(cx: float, cy: float, side: float, w: int, h: int) -> np.ndarray:
    x0 = float(np.clip(cx - side / 2, 0, w - side))
    y0 = float(np.clip(cy - side / 2, 0, h - side))
    return np.array([x0, y0, x0 + side, y0 + side], np.float32)


def candidate_crops(im: PersonImage, opt: PresenceOptions, rng: np.random.Generator) -> list[np.ndarray]:
    """Person-centred then random square crops (x0, y0, x1, y1) for one image."""
    h, w = im.image.shape[:2]
    short = min(h, w)
    crops = []
    order = rng.permutation(len(im.boxes))[: opt.person_crops]
    for b in im.boxes[order]:
        side = min(short, max(b[2] - b[0], b[3] - b[1]) * rng.uniform(*opt.context))
        jx, jy = rng.uniform(-0.15, 0.15, 2) * side
        crops.append(_square((b[0] + b[2]) / 2 + jx, (b[1] + b[3]) / 2 + jy, side, w, h))
    for _ in range(opt.random_crops):
        side = short * rng.uniform(opt.min_crop, max(opt.min_crop, opt.max_crop))
        crops.append(_square(rng.uniform(0, w), rng.uniform(0, h), side, w, h))
    return crops


def image_samples(im: PersonImage, opt: PresenceOptions, seed: int, size: tuple[int, int]
                  ) -> tuple[list[np.ndarray], list[int]]:
    """The labelled samples (resized RGB crops and labels) of one image; deterministic in (seed, image key)."""
    rng = np.random.default_rng(derive_seed(seed, zlib.crc32(im.key.encode())))
    h = im.image.shape[0]
    images, labels = [], []
    if opt.whole_images:
        tall = (im.boxes[:, 3] - im.boxes[:, 1]) >= opt.min_person * h if len(im.boxes) else np.zeros(0, bool)
        label = 0 if len(im.boxes) == 0 else (1 if tall.any() else None)
        if label is not None:
            images.append(resize(im.image, size))
            labels.append(label)
    for c in candidate_crops(im, opt, rng):
        label = crop_label(im.boxes, c, opt)
        if label is None:
            continue
        x0, y0, x1, y1 = (round(float(v)) for v in c)
        images.append(resize(im.image[y0:y1, x0:x1], size))
        labels.append(label)
        if len(images) >= IDS_PER_IMAGE:
            break
    return images, labels


def split_images(strata: np.ndarray, fractions: tuple[float, float], seed: int) -> np.ndarray:
    """0/1/2 (train/val/test) per image, stratified by ``strata``; deterministic for ``seed``."""
    rng = np.random.default_rng(seed)
    out = np.zeros(len(strata), np.int64)
    for s in np.unique(strata):
        idx = rng.permutation(np.flatnonzero(strata == s))
        n_val, n_test = (round(len(idx) * f) for f in fractions)
        out[idx[:n_val]] = 1
        out[idx[n_val:n_val + n_test]] = 2
    return out


def _zip_stamp(path: Path) -> list:
    st = path.stat()
    return [str(path), st.st_size, st.st_mtime_ns]


def _archives(arg: str) -> list[tuple[str, Path]]:
    names = [n for n in (arg or "pennfudan+coco128").split("+") if n]
    out = []
    for n in names:
        if n not in READERS:
            raise DataError(f"presence:{arg}: unknown detection source {n!r}; available: {', '.join(READERS)} "
                            f"(join them with '+')")
        folder, archive, _ = READERS[n]
        out.append((n, require_dataset(folder) / archive))
    return out


@functools.lru_cache(maxsize=4)
def _build(arg: str, opt_json: str, size: tuple[int, int], seed: int, fractions: tuple[float, float]) -> dict:
    """Decode every image once and draw its samples; cached per process (a few seconds for ~300 images)."""
    opt = PresenceOptions.model_validate_json(opt_json)
    imgs: list[PersonImage] = []
    for name, path in _archives(arg):
        imgs += READERS[name][2](path)
    strata = np.array([f"{im.key.split('/')[0]}:{int(len(im.boxes) > 0)}" for im in imgs])
    split_of = split_images(strata, fractions, seed)
    parts: dict[int, dict[str, list]] = {k: {"image": [], "label": [], "id": []} for k in range(3)}
    for i, im in enumerate(imgs):
        images, labels = image_samples(im, opt, seed, size)
        p = parts[int(split_of[i])]
        p["image"] += images
        p["label"] += labels
        p["id"] += [i * IDS_PER_IMAGE + k for k in range(len(images))]
    return {"parts": parts, "keys": [im.key for im in imgs], "split_of": split_of}


def _to_dataset(p: dict[str, list], size: tuple[int, int], channels: int, fp: str) -> TensorSampleDataset:
    x = np.stack(p["image"]) if p["image"] else np.zeros((0, *size, 3), np.uint8)
    if channels == 1:
        x = np.round(x.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))[..., None].astype(np.uint8)
    images = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    return TensorSampleDataset(images, {"label": torch.tensor(p["label"], dtype=torch.long)}, CLASS_NAMES, fp,
                               torch.tensor(p["id"], dtype=torch.long))


@SOURCES.register("presence")
def presence_source(arg: str, cfg: DataConfig, task: str) -> DataSplits:
    """Person-presence splits from ``+``-joined detection sets (default ``pennfudan+coco128``)."""
    if task != "classification":
        raise DataError(f"presence:{arg} provides classification labels (person / no_person), not {task}")
    opt: PresenceOptions = options_model(PresenceOptions, cfg)
    size, ch = cfg.size_hw() or (96, 96), cfg.channels or 3
    fractions = (cfg.val_fraction, cfg.test_fraction)
    built = _build(arg, opt.model_dump_json(), size, cfg.seed, fractions)
    fp = fingerprint("presence", arg, [_zip_stamp(p) for _, p in _archives(arg)], opt.model_dump(), size, ch,
                     cfg.seed, fractions)
    ds = {name: _to_dataset(built["parts"][k], size, ch, f"{fp}:{name}") for k, name in enumerate(SPLITS)}
    counts = {name: np.bincount(np.asarray(built["parts"][k]["label"], np.int64), minlength=2).tolist()
              for k, name in enumerate(SPLITS)}
    images = {name: int((built["split_of"] == k).sum()) for k, name in enumerate(SPLITS)}
    source = f"presence:{arg or 'pennfudan+coco128'}"
    return DataSplits(ds["train"], ds["val"], ds["test"], CLASS_NAMES, ch, size, source,
                      info={"options": json.loads(opt.model_dump_json()), "label_counts": counts, "images": images,
                            "image_keys": built["keys"]})

