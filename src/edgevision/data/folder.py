"""ImageFolder: ``root/<class>/*.jpg``, optionally with ``root/{train,val,test}/<class>/``.

Without split folders, a stratified split by ``seed`` gives train/val/test. Images are decoded lazily and
resized to the input size; unreadable files become ``None`` samples that the loader drops and counts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import DataError
from .base import DataSplits, SampleDataset, stratified_split
from .imageio import IMAGE_EXTS, is_image_file, read_image, resize
from .sources import SOURCES, DataConfig, fingerprint

SPLITS = ("train", "val", "test")


class FolderDataset(SampleDataset):
    """Files with integer labels, decoded on access to uint8 (C, H, W) at ``size``."""

    def __init__(self, files: list[Path], labels: list[int], class_names: list[str], size: tuple[int, int],
                 channels: int, fp: str) -> None:
        self.files, self.labels, self.class_names = files, np.asarray(labels, np.int64), class_names
        self.size, self.channels, self.fingerprint = size, channels, fp

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> dict[str, Any] | None:
        img = read_image(self.files[i], self.channels)
        if img is None:
            return None
        img = resize(img, self.size)
        return {"image": torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))), "id": i,
                "label": int(self.labels[i])}

    def name_of(self, i: int) -> str:
        return str(self.files[i])

    def subset(self, idx: np.ndarray, tag: str) -> FolderDataset:
        return FolderDataset([self.files[i] for i in idx], self.labels[idx].tolist(), self.class_names, self.size,
                             self.channels, f"{self.fingerprint}:{tag}")


def scan(root: Path, class_names: list[str] | None = None) -> tuple[list[Path], list[int], list[str]]:
    """List image files under ``root/<class>/`` (recursively within a class), sorted for determinism."""
    if class_names is None:
        class_names = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    files, labels = [], []
    for c, name in enumerate(class_names):
        d = root / name
        if not d.is_dir():
            continue
        found = sorted(p for p in d.rglob("*") if is_image_file(p))
        files += found
        labels += [c] * len(found)
    return files, labels, class_names


def _first_image_size(files: list[Path], channels: int) -> tuple[int, int]:
    for f in files[:20]:
        img = read_image(f, channels)
        if img is not None:
            return img.shape[:2]
    raise DataError(f"{files[0].parent.parent}: none of the first images could be decoded")


@SOURCES.register("imagefolder", description="a folder of class sub-folders of images (or a bare path)")
def imagefolder_source(arg: str, cfg: DataConfig, task: str) -> DataSplits:
    if task != "classification":
        raise DataError(f"imagefolder provides classification labels only, not {task}")
    root = Path(arg)
    if not root.is_dir():
        raise DataError(f"imagefolder: {root} is not a folder")
    has_splits = (root / "train").is_dir() and any((root / s).is_dir() for s in ("val", "test"))
    classes_root = root / "train" if has_splits else root
    files, labels, names = scan(classes_root)
    if not files:
        raise DataError(f"imagefolder {root}: no images found (expected {classes_root}/<class>/*"
                        f"{{{','.join(sorted(IMAGE_EXTS))}}})")
    ch = cfg.channels or 3
    size = cfg.size_hw() or _first_image_size(files, ch)
    fp = fingerprint("imagefolder", str(root.resolve()), size, ch, cfg.seed, cfg.val_fraction, cfg.test_fraction)
    full = FolderDataset(files, labels, names, size, ch, fp)
    if not has_splits:
        tr, va, te = stratified_split(full.labels, (cfg.val_fraction, cfg.test_fraction), cfg.seed)
        return DataSplits(full.subset(tr, "train"), full.subset(va, "val"), full.subset(te, "test"), names, ch, size,
                          f"imagefolder:{root}")
    parts: dict[str, FolderDataset] = {}
    for s in ("val", "test"):
        if (root / s).is_dir():
            f, lab, _ = scan(root / s, names)
            parts[s] = FolderDataset(f, lab, names, size, ch, f"{fp}:{s}")
    tr, va, te = stratified_split(full.labels, (0.0 if "val" in parts else cfg.val_fraction,
                                                0.0 if "test" in parts else cfg.test_fraction), cfg.seed)
    return DataSplits(full.subset(tr, "train"), parts.get("val") or full.subset(va, "val"),
                      parts.get("test") or full.subset(te, "test"), names, ch, size, f"imagefolder:{root}")
