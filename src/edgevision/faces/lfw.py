"""The LFW source (Huang et al. 2007; deep-funneled images, Huang et al. 2012): 5,749 people, 250×250 colour photos.

``lfw`` (the shared ``lfw_deepfunneled`` dataset), ``lfw:/path/to/lfw_deepfunneled.zip`` or an unpacked folder.
``people`` picks the identities: LFW's View 1 lists ``devtrain`` (``peopleDevTrain.txt``, 4,038 people) and
``devtest`` (``peopleDevTest.txt``, 1,711 people) are disjoint, so a model trained on one side is tested on
people it never saw. Images are the centred square ``crop`` × 250 px (the photos are loosely cropped around an
already aligned face: LFW enlarged the detected box 2.2×) resized to the input size. Every identity with more
than ``val_per_id`` images gives its last ``val_per_id`` images to validation (0: validation = training images);
the test split is empty (faces are tested on other people: ``benchmarks/face_embedding.py``). :func:`read_pairs`
reads View 2's ``pairs.txt``.
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

_IMAGE = re.compile(r"(?:^|/)([^/]+)/\1_(\d{4})\.jpg$")
LISTS = {"devtrain": "peopleDevTrain.txt", "devtest": "peopleDevTest.txt"}


class LfwOptions(BaseModel):
    """``data.options`` of the ``lfw`` source."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    people: Literal["devtrain", "devtest", "all"] = Field("devtrain", description="identities: View 1's "
                                                          "peopleDevTrain / peopleDevTest lists (disjoint), or all")
    min_images: int = Field(2, ge=1, description="keep people with at least this many images")
    max_per_id: int = Field(6, ge=1, description="use at most this many images per person (the first ones)")
    max_people: int | None = Field(None, ge=1, description="use at most this many people (evenly spaced by name)")
    val_per_id: int = Field(1, ge=0, description="last images of each person (with more than this many) held "
                            "out for validation (0: validate on the training images; use keep: last)")
    crop: float = Field(0.56, gt=0.2, le=1.0, description="side of the centred square crop, as a fraction of the "
                        "250 px photo (0.56 ≈ the face box with a margin)")
    holdout_people: int = Field(0, ge=0, description="people kept out of the selection entirely (evenly spaced by "
                                "name over the list's people with at least 4 images), to choose a model on "
                                "identities it never saw")


class LfwArchive:
    """The JPEG bytes of an LFW copy (zip or folder), keyed by (name, number), and its text files."""

    def __init__(self, root: Path) -> None:
        p = root / "lfw_deepfunneled.zip" if root.is_dir() and (root / "lfw_deepfunneled.zip").is_file() else root
        self.path, self.blobs, self.texts = p, {}, {}
        if p.is_file():
            with open_zip(p) as z:
                for n in z.namelist():
                    if m := _IMAGE.search(n):
                        self.blobs[m[1], int(m[2])] = (n, None)
                    elif n.endswith(".txt"):
                        self.texts[Path(n).name] = z.read(n).decode()
        elif p.is_dir():
            for f in p.rglob("*.jpg"):
                if m := _IMAGE.search(f.as_posix()):
                    self.blobs[m[1], int(m[2])] = (str(f), None)
            self.texts = {f.name: f.read_text() for f in p.rglob("*.txt")}
        if not self.blobs:
            raise DataError(f"lfw: no <Name>/<Name>_NNNN.jpg images in {p} (expected the LFW zip or its folder)")

    def read(self, keys: list[tuple[str, int]]) -> list[bytes]:
        """JPEG bytes of ``keys`` in order (one pass over the zip)."""
        if self.path.is_file():
            with open_zip(self.path) as z:
                return [z.read(self.blobs[k][0]) for k in keys]
        return [Path(self.blobs[k][0]).read_bytes() for k in keys]

    def people(self, which: str) -> list[str]:
        """The names of a View 1 list (``devtrain`` / ``devtest``) or every name."""
        if which == "all":
            return sorted({n for n, _ in self.blobs})
        text = self.texts.get(LISTS[which])
        if text is None:
            raise DataError(f"lfw {self.path}: {LISTS[which]} is missing")
        return [line.split("\t")[0] for line in text.splitlines()[1:] if line.strip()]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for n, _ in self.blobs:
            out[n] = out.get(n, 0) + 1
        return out


@lru_cache(maxsize=2)
def archive(root: str) -> LfwArchive:
    return LfwArchive(Path(root))


def decode_crops(blobs: list[bytes], size: tuple[int, int], crop: float, channels: int) -> np.ndarray:
    """Centre-cropped, resized images (N, H, W, C) uint8 (RGB, or grey for one channel)."""
    out = np.zeros((len(blobs), *size, channels), np.uint8)
    for i, b in enumerate(blobs):  # decoding dominates: one JPEG at a time
        im = cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR)
        if im is None:
            raise DataError(f"lfw: image {i} is not a readable JPEG")
        h, w = im.shape[:2]
        side = round(crop * min(h, w))
        y0, x0 = (h - side) // 2, (w - side) // 2
        face = cv2.resize(im[y0:y0 + side, x0:x0 + side], (size[1], size[0]), interpolation=cv2.INTER_AREA)
        face = cv2.cvtColor(face, cv2.COLOR_BGR2GRAY)[..., None] if channels == 1 else face[..., ::-1]
        out[i] = face
    return out


def held_out(arc: LfwArchive, opts: LfwOptions) -> list[str]:
    """The ``holdout_people`` names: evenly spaced over the list's people with ≥ 4 images (3 to enrol, probes)."""
    counts = arc.counts()
    pool = [n for n in arc.people(opts.people) if counts.get(n, 0) >= 4]
    if not opts.holdout_people:
        return []
    if opts.holdout_people > len(pool):
        raise DataError(f"lfw: holdout_people {opts.holdout_people} > the {len(pool)} people of {opts.people} "
                        f"with at least 4 images")
    return [pool[i] for i in np.unique(np.linspace(0, len(pool) - 1, opts.holdout_people).round().astype(int))]


def select(arc: LfwArchive, opts: LfwOptions) -> list[tuple[str, int]]:
    """(name, number) of the chosen images: people of the list with ≥ ``min_images`` (minus :func:`held_out`),
    first ``max_per_id`` each."""
    counts, skip = arc.counts(), set(held_out(arc, opts))
    names = [n for n in arc.people(opts.people) if counts.get(n, 0) >= opts.min_images and n not in skip]
    if opts.max_people and len(names) > opts.max_people:
        names = [names[i] for i in np.unique(np.linspace(0, len(names) - 1, opts.max_people).round().astype(int))]
    if not names:
        raise DataError(f"lfw: no person of {opts.people} has at least {opts.min_images} images")
    return [(n, k) for n in names for k in range(1, min(counts[n], opts.max_per_id) + 1)]


def load_faces(root: str | Path, keys: list[tuple[str, int]], size: tuple[int, int], crop: float = 0.56,
               channels: int = 3) -> np.ndarray:
    """Images (N, H, W, C) uint8 of the given (name, number) keys."""
    arc = archive(str(root))
    missing = [f"{n}_{k:04d}" for n, k in keys if (n, k) not in arc.blobs]
    if missing:
        raise DataError(f"lfw {arc.path}: no image {missing[0]} ({len(missing)} missing)")
    return decode_crops(arc.read(keys), size, crop, channels)


def read_pairs(root: str | Path, file: str = "pairs.txt") -> list[tuple[int, tuple[str, int], tuple[str, int]]]:
    """View 2 pairs ``(fold, (name_a, n_a), (name_b, n_b))``; a pair is genuine iff the names are equal."""
    arc = archive(str(root))
    if file not in arc.texts:
        raise DataError(f"lfw {arc.path}: {file} is missing")
    lines = arc.texts[file].splitlines()
    per = int(lines[0].split()[-1])  # "10\t300" (View 2: folds, pairs of each kind per fold) or "1100" (View 1)
    out = []
    for i, line in enumerate(lines[1:]):
        f = line.split("\t")
        a, b = ((f[0], int(f[1])), (f[0], int(f[2]))) if len(f) == 3 else ((f[0], int(f[1])), (f[2], int(f[3])))
        out.append((i // (2 * per), a, b))
    return out


@SOURCES.register("lfw", description="Labeled Faces in the Wild (deep-funneled), View 1 people lists, by identity")
def lfw_source(arg: str, cfg: DataConfig, task: str) -> DataSplits:
    if task not in ("classification", "face"):
        raise DataError(f"lfw provides identity labels only (classification / face), not {task}")
    opts: LfwOptions = options_model(LfwOptions, cfg)
    root = Path(arg) if arg else require_dataset("lfw_deepfunneled")
    keys = select(archive(str(root)), opts)
    size, ch = cfg.size_hw() or (64, 64), cfg.channels or 3
    x = torch.from_numpy(load_faces(root, keys, size, opts.crop, ch)).permute(0, 3, 1, 2).contiguous()
    names = sorted({n for n, _ in keys})
    labels = torch.as_tensor(np.searchsorted(names, [n for n, _ in keys]), dtype=torch.long)
    full = TensorSampleDataset(x, {"label": labels}, names, fingerprint("lfw", str(root), size, ch, opts.model_dump()))
    val = np.zeros(len(keys), bool)
    per = np.bincount(labels.numpy())
    for j, (_, k) in enumerate(keys):  # per[label] = the images used of that person, numbered 1..per
        c = per[labels[j]]
        val[j] = c > opts.val_per_id and k > c - opts.val_per_id
    train = full.subset(np.flatnonzero(~val))
    info = {"people": len(names), "images": len(keys), "val_is_train": not val.any()}
    return DataSplits(train, full.subset(np.flatnonzero(val)) if val.any() else train, full.subset([]), names, ch,
                      size, f"lfw:{root}", info=info)
