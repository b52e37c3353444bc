"""Shared machinery of the detection formats (VOC, COCO, YOLO): records, a lazy dataset, splits, archives.

Every reader produces :class:`DetectionRecord` s whose boxes are xyxy **normalized to [0, 1]** of the original
image, so the canonical target at any input size is ``boxes · (W, H, W, H)`` in pixels when the image is stretched
to the input size (the default, like every other source), or those of the letterboxed image
(:mod:`edgevision.ops.letterbox`), plus ``labels``. Small datasets are decoded once into memory (the fast
batch path); large ones stay lazy and are decoded by loader workers.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import DataError
from ..ops.letterbox import fit, fit_image
from ..utils.io import temp_dir_beside
from ..utils.progress import make_progress
from .base import DataSplits, SampleDataset, SubsetDataset, TensorSampleDataset
from .imageio import read_image
from .paths import find_dataset, open_zip
from .sources import DataConfig, fingerprint
from .unreadable import record

DEFAULT_SIZE = (320, 320)
MEMORY_BUDGET = 2 * 1024**3  # bytes of uint8 pixels below which a split is decoded into memory


@dataclass(frozen=True)
class DetectionRecord:
    """One image: its file, boxes (N, 4) xyxy normalized to [0, 1], labels (N,), and a stable id in its source."""

    path: Path
    boxes: np.ndarray
    labels: np.ndarray
    id: int = 0
    size: tuple[int, int] | None = None  # (h, w) of the image when the annotation says so (letterbox needs it)


def normalized(boxes_px: np.ndarray, h: float, w: float) -> np.ndarray:
    """Pixel xyxy boxes of an h×w image → [0, 1] coordinates, clipped."""
    b = np.asarray(boxes_px, np.float32).reshape(-1, 4) / np.array([w, h, w, h], np.float32)
    return np.clip(b, 0, 1)


def keep_valid(boxes: np.ndarray, labels: np.ndarray, min_size: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    ok = ((boxes[:, 2] - boxes[:, 0]) > min_size) & ((boxes[:, 3] - boxes[:, 1]) > min_size)
    return boxes[ok].astype(np.float32), labels[ok].astype(np.int64)


class DetectionDataset(SampleDataset):
    """Records decoded on access: image stretched or letterboxed (``resize``) to ``size`` (H, W), boxes mapped."""

    def __init__(self, records: list[DetectionRecord], class_names: list[str], size: tuple[int, int],
                 channels: int, fp: str, resize: str = "stretch") -> None:
        self.records, self.class_names, self.size, self.channels = records, list(class_names), size, channels
        self.fingerprint, self.resize = fp, resize
        self._hw: dict[int, tuple[int, int]] = {}  # image sizes read for letterbox targets (unannotated formats)

    def __len__(self) -> int:
        return len(self.records)

    def name_of(self, i: int) -> str:
        return str(self.records[i].path)

    def target(self, i: int, hw: tuple[int, int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Pixel boxes at the input size and labels; letterbox needs the image's (h, w): given, annotated, or read."""
        r = self.records[i]
        h, w = self.size
        boxes = r.boxes * np.array([w, h, w, h], np.float32)
        if self.resize != "stretch":
            hw = hw or r.size or self._hw.get(i) or self._hw.setdefault(i, _image_hw(r.path, self.channels))
            boxes = fit(hw, self.size, self.resize).to_input(r.boxes * np.array([hw[1], hw[0]] * 2, np.float32))
        return torch.from_numpy(boxes), torch.from_numpy(r.labels)

    def __getitem__(self, i: int) -> dict[str, Any] | None:
        img = read_image(self.records[i].path, self.channels)
        if img is None:
            return None
        boxes, labels = self.target(i, img.shape[:2])
        x = fit_image(img, self.size, self.resize)
        return {"image": torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))), "id": self.records[i].id,
                "boxes": boxes, "labels": labels}


def _image_hw(path: Path, channels: int) -> tuple[int, int]:
    img = read_image(path, channels)
    return img.shape[:2] if img is not None else (1, 1)


def dataset_boxes(ds: SampleDataset) -> list[np.ndarray]:
    """Pixel boxes (N_i, 4) of every sample at the dataset's size, without decoding images where possible."""
    if isinstance(ds, TensorSampleDataset):
        return [np.asarray(b, np.float32).reshape(-1, 4) for b in ds.targets["boxes"]]
    if isinstance(ds, DetectionDataset):
        return [ds.target(i)[0].numpy() for i in range(len(ds))]
    if isinstance(ds, SubsetDataset):
        inner = dataset_boxes(ds.base)
        return [inner[int(i)] for i in ds.indices]
    return [np.asarray(s["boxes"]).reshape(-1, 4) for i in range(len(ds)) if (s := ds[i]) is not None]


def materialize(ds: DetectionDataset, workers: int = 4) -> TensorSampleDataset:
    """Decode every image once (threads: OpenCV releases the GIL) into an in-memory dataset."""
    keep: list[int] = []
    images: list[np.ndarray] = []
    sizes: list[tuple[int, int]] = []
    with make_progress() as bar, ThreadPoolExecutor(workers) as pool:
        job = bar.add_task(f"decoding {len(ds)} images", total=len(ds))
        for i, img in enumerate(pool.map(lambda r: read_image(r.path, ds.channels), ds.records)):
            bar.update(job, advance=1)
            if img is not None:
                keep.append(i)
                sizes.append(img.shape[:2])
                images.append(fit_image(img, ds.size, ds.resize).transpose(2, 0, 1))
    h, w = ds.size
    stack = torch.from_numpy(np.stack(images)) if images else torch.zeros((0, ds.channels, h, w), dtype=torch.uint8)
    targets = [ds.target(i, hw) for i, hw in zip(keep, sizes)]
    out = TensorSampleDataset(stack, {"boxes": [t[0] for t in targets], "labels": [t[1] for t in targets]},
                              ds.class_names, ds.fingerprint,
                              torch.tensor([ds.records[i].id for i in keep], dtype=torch.long))
    kept = set(keep)
    record(out, [ds.name_of(i) for i in range(len(ds)) if i not in kept], counted=False)  # dropped while decoding
    return out


def random_split(n: int, val: float, test: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Deterministic (train, val, test) index arrays from a seeded permutation."""
    perm = np.random.default_rng(seed).permutation(n)
    n_val, n_test = round(n * val), round(n * test)
    if n >= 3:
        n_val, n_test = max(n_val, 1 if val else 0), max(n_test, 1 if test else 0)
    return np.sort(perm[n_val + n_test:]), np.sort(perm[:n_val]), np.sort(perm[n_val:n_val + n_test])


def build_splits(parts: dict[str, list[DetectionRecord]], class_names: list[str], cfg: DataConfig, source: str,
                 in_memory: bool | None = None) -> DataSplits:
    """DataSplits from records per split; splits small enough for memory are decoded up front."""
    size = cfg.size_hw() or DEFAULT_SIZE
    ch = cfg.channels or 3
    out: dict[str, SampleDataset] = {}
    for name in ("train", "val", "test"):
        recs = parts.get(name, [])
        fp = fingerprint(source, size, ch, name, len(recs), *(["letterbox"] if cfg.resize == "letterbox" else []))
        ds = DetectionDataset(recs, class_names, size, ch, fp, cfg.resize)
        fits = len(recs) * size[0] * size[1] * ch <= MEMORY_BUDGET
        out[name] = materialize(ds) if recs and (in_memory if in_memory is not None else fits) else ds
    info = {"split": {k: len(v) for k, v in parts.items()}, "boxes": int(sum(len(r.boxes) for v in parts.values()
                                                                             for r in v))}
    return DataSplits(out["train"], out["val"], out["test"], class_names, ch, size, source, info=info,
                      resize=cfg.resize)


def split_records(records: list[DetectionRecord], cfg: DataConfig) -> dict[str, list[DetectionRecord]]:
    tr, va, te = random_split(len(records), cfg.val_fraction, cfg.test_fraction, cfg.seed)
    return {"train": [records[i] for i in tr], "val": [records[i] for i in va], "test": [records[i] for i in te]}


# --------------------------------------------------------------------------------------------- archives
def cache_dir() -> Path:
    return Path(os.environ.get("EDGEVISION_CACHE") or Path.home() / ".cache" / "edgevision")


def extracted(zpath: Path) -> Path:
    """Extract an archive once into the cache (atomically, refusing paths that escape it); return the folder."""
    st = zpath.stat()
    key = hashlib.sha1(f"{zpath.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:12]
    dest = cache_dir() / "extracted" / f"{zpath.stem}-{key}"
    if dest.is_dir():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_dir_beside(dest)
    try:
        with open_zip(zpath) as z:
            for m in z.infolist():
                target = (tmp / m.filename).resolve()
                if not target.is_relative_to(tmp.resolve()):
                    raise DataError(f"{zpath}: member {m.filename!r} would extract outside the cache folder")
            z.extractall(tmp)
        os.replace(tmp, dest)
    except (zipfile.BadZipFile, OSError) as e:
        raise DataError(f"{zpath}: cannot extract ({e})") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


def resolve_root(arg: str, fmt: str) -> Path:
    """A folder or file from a path, a ``.zip`` (extracted to the cache) or a shared dataset name."""
    if not arg:
        raise DataError(f"{fmt}: give a path, e.g. {fmt}:/data/my-dataset (or a shared dataset name like coco128)")
    p = Path(arg)
    if not p.exists() and (found := find_dataset(arg)) is not None:
        p = found
    if not p.exists():
        raise DataError(f"{fmt}:{arg}: no such file or folder, and not a shared dataset name")
    if p.is_file() and p.suffix.lower() == ".zip":
        return extracted(p)
    if p.is_dir():
        zips = sorted(p.glob("*.zip"))
        if len(zips) == 1 and not any(q.is_dir() for q in p.iterdir()):
            return extracted(zips[0])  # a shared dataset folder: the archive plus its notes
    return p


def find_dir(root: Path, name: str, depth: int = 3) -> Path | None:
    """The shallowest folder called ``name`` at most ``depth`` levels under ``root`` (or root itself)."""
    if root.name == name:
        return root
    level = [root]
    for _ in range(depth):
        nxt = []
        for d in level:
            subs = sorted(q for q in d.iterdir() if q.is_dir() and not q.name.startswith("."))
            for q in subs:
                if q.name == name:
                    return q
            nxt += subs
        level = nxt
    return None
