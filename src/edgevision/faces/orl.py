"""The ORL / AT&T faces source (Samaria & Harter 1994): 40 subjects × 10 grey 92×112 PGM images.

``orl`` (the shared dataset), ``orl:/path/to/orl_faces.zip`` or ``orl:/path/to/orl_faces`` (unpacked). Every
identity is split the same way: ``train_per_id`` images for training, ``val_per_id`` for validation and the
rest for test (images in file order 1..10, or a seeded per-person shuffle). ``subjects`` selects identities
(``"1-30"``, ``"31-40"``, ``"1,5,7"``), which is how the transfer experiments pre-train on 30 people and adapt
to the other 10. ``crop: haar`` runs the face detector (:mod:`.detect`) on every image and crops with a
margin (optionally eye-aligned); images where no face is found keep the full frame and are counted in
``info["no_face"]`` — they never stop the run.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from ..data.base import DataSplits, TensorSampleDataset
from ..data.paths import open_zip, require_dataset
from ..data.sources import SOURCES, DataConfig, fingerprint, options_model
from ..errors import DataError
from .detect import DetectorConfig, crop_faces, detect_faces

_NAME = re.compile(r"(?:^|/)s(\d+)/(\d+)\.pgm$")


class OrlOptions(BaseModel):
    """``data.options`` of the ``orl`` source."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    subjects: str = Field("1-40", description="subject numbers: ranges and lists, e.g. 1-30 or 31-40 or 1,3,5")
    train_per_id: int = Field(5, ge=1, le=9)
    val_per_id: int = Field(0, ge=0, le=8, description="0: validate on the training images (use keep: last)")
    order: Literal["file", "shuffle"] = Field("file", description="file: images 1..n train; shuffle: seeded")
    crop: Literal["full", "haar"] = "full"
    detector: DetectorConfig = Field(default_factory=lambda: DetectorConfig(min_size=30, detect_width=None,
                                                                            min_neighbors=3))


def parse_subjects(spec: str, available: int = 40) -> list[int]:
    """``"1-30"`` / ``"31-40"`` / ``"1,4,9-12"`` → sorted subject numbers; anything else is a DataError."""
    out: set[int] = set()
    for part in filter(None, (p.strip() for p in str(spec).split(","))):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise DataError(f"data.options.subjects: {part!r} is not a number or a range like 1-30")
        lo, hi = int(m[1]), int(m[2] or m[1])
        if not 1 <= lo <= hi <= available:
            raise DataError(f"data.options.subjects: {part!r} is outside 1-{available}")
        out.update(range(lo, hi + 1))
    if not out:
        raise DataError("data.options.subjects: no subject selected")
    return sorted(out)


@lru_cache(maxsize=2)
def load_orl(root: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(images (N, 112, 92) uint8, subject (N,), index (N,))`` from the zip or folder at ``root``."""
    p = Path(root)
    blobs: dict[tuple[int, int], bytes] = {}
    if p.is_dir() and (p / "orl_faces.zip").is_file():
        p = p / "orl_faces.zip"
    if p.is_file():
        with open_zip(p) as z:
            for name in z.namelist():
                if m := _NAME.search(name):
                    blobs[int(m[1]), int(m[2])] = z.read(name)
    elif p.is_dir():
        for f in p.rglob("*.pgm"):
            if m := _NAME.search(f.as_posix()):
                blobs[int(m[1]), int(m[2])] = f.read_bytes()
    if not blobs:
        raise DataError(f"orl: no s<N>/<k>.pgm images found in {p} (expected the ORL zip or its unpacked folder)")
    keys = sorted(blobs)
    imgs = [cv2.imdecode(np.frombuffer(blobs[k], np.uint8), cv2.IMREAD_GRAYSCALE) for k in keys]
    bad = [f"s{k[0]}/{k[1]}.pgm" for k, im in zip(keys, imgs) if im is None or im.shape != imgs[0].shape]
    if bad:
        raise DataError(f"orl {p}: unreadable or differently sized images: {', '.join(bad[:5])}")
    return np.stack(imgs), np.array([k[0] for k in keys]), np.array([k[1] for k in keys])


def face_crops(images: np.ndarray, size: tuple[int, int], opts: OrlOptions) -> tuple[np.ndarray, list[int]]:
    """Resize (``full``) or detect+crop (``haar``) every image to ``size``; returns (crops, rows with no face)."""
    if opts.crop == "full":
        return np.stack([cv2.resize(im, (size[1], size[0]), interpolation=cv2.INTER_AREA) for im in images]), []
    out, missing = np.zeros((len(images), *size), np.uint8), []
    for i, im in enumerate(images):  # 400 images: the cascade dominates, not the loop
        boxes = detect_faces(im, opts.detector)
        if len(boxes) == 0:
            missing.append(i)
            boxes = np.array([[0, 0, im.shape[1], im.shape[0]]])
            out[i] = crop_faces(im, boxes, size, opts.detector.model_copy(update={"margin": 0.0}))[0]
        else:
            out[i] = crop_faces(im, boxes[:1], size, opts.detector)[0]
    return out, missing


@lru_cache(maxsize=16)
def _cached_crops(root: str, subjects: str, size: tuple[int, int], opts_json: str) -> tuple[np.ndarray, list[int]]:
    """Detection is the slow part (~10 ms per image): repeated runs in one process reuse the crops."""
    images, subject, _ = load_orl(root)
    keep = np.isin(subject, parse_subjects(subjects, int(subject.max())))
    return face_crops(images[keep], size, OrlOptions.model_validate_json(opts_json))


def split_rows(subject: np.ndarray, opts: OrlOptions, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-identity train/val/test row indices (every identity contributes the same counts)."""
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[], [], []]
    for s in np.unique(subject):
        rows = np.flatnonzero(subject == s)
        if opts.order == "shuffle":
            rows = rng.permutation(rows)
        a, b = opts.train_per_id, opts.train_per_id + opts.val_per_id
        if b >= len(rows):
            raise DataError(f"orl: train_per_id + val_per_id = {b} leaves no test image of {len(rows)} per person")
        for k, r in enumerate((rows[:a], rows[a:b], rows[b:])):
            parts[k].append(r)
    return tuple(np.sort(np.concatenate(p)) for p in parts)


@SOURCES.register("orl", description="ORL / AT&T faces (40 people × 10 images), split by identity for open-set tests")
def orl_source(arg: str, cfg: DataConfig, task: str) -> DataSplits:
    if task not in ("classification", "face"):
        raise DataError(f"orl provides identity labels only (classification / face), not {task}")
    opts: OrlOptions = options_model(OrlOptions, cfg)
    root = Path(arg) if arg else require_dataset("orl_faces")
    _, subject, index = load_orl(str(root))
    keep = np.isin(subject, parse_subjects(opts.subjects, int(subject.max())))
    subject, index = subject[keep], index[keep]
    size = cfg.size_hw() or (64, 64)
    crops, missing = _cached_crops(str(root), opts.subjects, size, opts.model_dump_json())
    names = [f"s{s}" for s in np.unique(subject)]
    labels = torch.as_tensor(np.searchsorted(np.unique(subject), subject), dtype=torch.long)
    x = torch.from_numpy(crops)[:, None]  # (N, 1, H, W) uint8
    ch = cfg.channels or 1
    x = x.expand(-1, ch, -1, -1).contiguous()
    fp = fingerprint("orl", str(root), size, ch, opts.model_dump(), cfg.seed)
    full = TensorSampleDataset(x, {"label": labels}, names, fp)
    tr, va, te = split_rows(subject, opts, cfg.seed)
    val = full.subset(va if len(va) else tr)
    no_face = [f"s{subject[i]}/{index[i]}.pgm" for i in missing]
    return DataSplits(full.subset(tr), val, full.subset(te), names, ch, size, f"orl:{root}",
                      info={"no_face": len(no_face), "no_face_files": no_face, "val_is_train": not len(va)})
