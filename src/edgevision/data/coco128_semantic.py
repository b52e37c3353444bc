"""COCO128's semantic masks (``coco128_semantic``): 100 images of COCO train2017 with one COCO panoptic
category id per pixel (lightly-ai's masks; see the dataset's SOURCE.md). Read straight from ``coco128.zip``.

``data.options.classes``:

- ``all`` (default): the 129 named categories of ``semantic_masks/classes.txt`` become labels 0..128 (sorted
  by id); id 0 (``unlabeled``) becomes the ignore label 255.
- a list of names, e.g. ``[person]``: label 0 is ``background`` (every other category, and unlabeled pixels),
  then the listed categories in order — person-vs-background is the Demborg (2018) setting.

The held-out split is fixed like Penn-Fudan's: stems ordered by SHA-1, the first ``round(100 ·
test_fraction)`` are test, the next ``round(100 · val_fraction)`` val, the rest train. Every mask is checked
against its image (size) and the category list (a value that is not a listed id is a DataError naming the file).
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ..errors import ConfigError, DataError, suggest
from .base import DataSplits
from .masks import DEFAULT_SIZE, check_mask, pair_dataset, read_mask, resize_pair
from .paths import open_zip, require_dataset
from .sources import SOURCES, DataConfig, fingerprint, options_model

PREFIX = "coco128/"
IGNORE = 255


class CocoSemanticOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    classes: str | list[str] = Field("all", description="'all' or a list of category names (others → background)")


def _zip_path(arg: str) -> Path:
    p = Path(arg) if arg else require_dataset("coco128")
    return p / "coco128.zip" if p.is_dir() else p


def _parse_classes(text: str, where: str) -> dict[int, str]:
    out = {}
    for line in text.splitlines():
        if line.strip():
            k, _, name = line.strip().partition(" ")
            if not k.isdigit():
                raise DataError(f"{where}: expected '<id> <name>' lines, got {line!r}")
            out[int(k)] = name.strip()
    return out


@functools.lru_cache(maxsize=2)
def read_coco128_semantic(zpath: str) -> tuple[dict[int, str], tuple[tuple[str, np.ndarray, np.ndarray], ...]]:
    """``({id: name}, ((stem, image RGB (H, W, 3), raw id mask (H, W)), ...))`` sorted by stem, cached per process."""
    with open_zip(Path(zpath)) as z:
        names = set(z.namelist())
        cls_file = PREFIX + "semantic_masks/classes.txt"
        if cls_file not in names:
            raise DataError(f"{zpath}: missing {cls_file}")
        ids = _parse_classes(z.read(cls_file).decode(), f"{zpath}:{cls_file}")
        masks = sorted(n for n in names if n.startswith(PREFIX + "semantic_masks/train2017/") and n.endswith(".png"))
        if not masks:
            raise DataError(f"{zpath}: no {PREFIX}semantic_masks/train2017/*.png inside")
        recs = []
        for m in masks:
            stem = Path(m).stem
            img_name = f"{PREFIX}images/train2017/{stem}.jpg"
            if img_name not in names:
                raise DataError(f"{zpath}:{m}: no image {img_name}")
            img = cv2.imdecode(np.frombuffer(z.read(img_name), np.uint8), cv2.IMREAD_COLOR)
            if img is None:
                raise DataError(f"{zpath}:{img_name}: cannot decode image")
            mask = read_mask(z.read(m), f"{zpath}:{m}")
            check_mask(mask, img.shape[:2], None, IGNORE, f"{zpath}:{m}")
            recs.append((stem, cv2.cvtColor(img, cv2.COLOR_BGR2RGB), mask))
    return ids, tuple(recs)


def label_map(ids: dict[int, str], classes: str | list[str]) -> tuple[np.ndarray, list[str]]:
    """A lookup table raw id → label (256 entries, unknown ids → -1) and the class names."""
    lut = np.full(256, -1, np.int32)
    if classes == "all":
        named = sorted(k for k in ids if k != 0)
        lut[named] = np.arange(len(named))
        lut[0] = IGNORE
        return lut, [ids[k] for k in named]
    by_name = {v: k for k, v in ids.items()}
    lut[list(ids)] = 0
    for i, name in enumerate(classes, start=1):
        if name not in by_name or name == "unlabeled":
            raise ConfigError(f"data.options.classes: unknown COCO category {name!r}{suggest(name, by_name)}")
        lut[by_name[name]] = i
    return lut, ["background", *classes]


def fixed_split(stems: list[str], val_fraction: float, test_fraction: float) -> dict[str, list[str]]:
    order = sorted(stems, key=lambda s: hashlib.sha1(s.encode()).hexdigest())
    n_test, n_val = round(len(order) * test_fraction), round(len(order) * val_fraction)
    return {"test": sorted(order[:n_test]), "val": sorted(order[n_test:n_test + n_val]),
            "train": sorted(order[n_test + n_val:])}


def _labels(lut: np.ndarray, raw: np.ndarray, where: str) -> np.ndarray:
    if raw.max() >= len(lut):
        raise DataError(f"{where}: label value {int(raw.max())} is not a category id of semantic_masks/classes.txt")
    out = lut[raw]
    if (out < 0).any():
        v = int(raw[out < 0].flat[0])
        raise DataError(f"{where}: label value {v} is not a category id of semantic_masks/classes.txt")
    return out.astype(np.uint8)


@SOURCES.register("coco128_semantic")
def coco128_semantic_source(arg: str, cfg: DataConfig, task: str) -> DataSplits:
    """COCO128 semantic masks for ``segmentation`` at ``input_size`` (default 256²)."""
    if task != "segmentation":
        raise DataError(f"coco128_semantic provides segmentation masks, not {task} targets")
    opt: CocoSemanticOptions = options_model(CocoSemanticOptions, cfg)
    zpath = _zip_path(arg)
    ids, recs = read_coco128_semantic(str(zpath))
    lut, names = label_map(ids, opt.classes)
    size = cfg.size_hw() or DEFAULT_SIZE
    by_stem = {r[0]: r for r in recs}
    stems = sorted(by_stem)
    parts = fixed_split(stems, cfg.val_fraction, cfg.test_fraction)
    ds = {}
    for s, chosen in parts.items():
        pairs = [resize_pair(by_stem[k][1], _labels(lut, by_stem[k][2], f"{zpath}:{k}.png"), size) for k in chosen]
        fp = fingerprint("coco128_semantic", str(zpath), size, opt.model_dump(), cfg.val_fraction,
                         cfg.test_fraction, s)
        ds[s] = pair_dataset(pairs, [stems.index(k) for k in chosen], names, fp)
    return DataSplits(ds["train"], ds["val"], ds["test"], names, 3, size, "coco128_semantic",
                      info={"task_kwargs": {"ignore_index": IGNORE}, "split": {k: len(v) for k, v in parts.items()},
                            "classes": opt.classes})
