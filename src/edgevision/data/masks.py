"""Segmentation data: image + label-mask pairs matched by file stem (``masks:/root``), and the mask checks every
segmentation source shares.

Layout::

    root/images/<stem>.jpg|png|...     root/masks/<stem><mask_suffix>.png
    root/classes.txt                   optional: one class name per line (line i = label i), or "id name"
    root/{train,val,test}/{images,masks}/...   optional fixed splits; otherwise a seeded split by fractions

A mask holds one class index per pixel (``ignore_index``, default 255, marks pixels to leave out of the loss and
the metrics). Masks are read with Pillow so palette PNGs keep their indices (OpenCV would expand them to
colours). Every mask is checked when the source is opened, and a problem is a one-line :class:`DataError`
naming the file: a size different from its image's, a non-integer or multi-colour mask (wrong dtype), a lossy
JPEG mask, or a label outside ``0..num_classes-1``. Everything is decoded once (in threads) and held in memory
at ``input_size`` (default 256²), so training indexes whole batches without per-sample Python.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict, Field

from ..errors import DataError
from ..utils.progress import make_progress
from .base import DataSplits, TensorSampleDataset
from .imageio import IMAGE_EXTS, is_image_file, read_image, resize
from .sources import SOURCES, DataConfig, fingerprint, options_model
from .unreadable import record

DEFAULT_SIZE = (256, 256)
MASK_EXTS = {".png", ".bmp", ".tif", ".tiff", ".pgm", ".gif", ".webp"}
_INT_MODES = {"1", "L", "P", "I", "I;16", "I;16B", "I;16L", "I;16N"}


class MaskOptions(BaseModel):
    """``data.options`` of the ``masks`` source."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    images: str = Field("images", description="image subfolder")
    masks: str = Field("masks", description="mask subfolder")
    mask_suffix: str = Field("", description="mask stem = image stem + this (e.g. '_mask')")
    classes: list[str] | None = Field(None, description="class names (default: root/classes.txt, else inferred)")
    ignore_index: int = Field(255, ge=0, le=65535, description="label of pixels left out of loss and metrics")
    unmatched: str = Field("error", pattern="^(error|skip)$", description="an image without a mask (or the "
                           "reverse): error, or skip it")
    threads: int = Field(4, ge=1, le=64)


def read_mask(data: bytes, where: str) -> np.ndarray:
    """Decode a label mask to (H, W) integers; a colour, float or lossy mask is a DataError naming ``where``."""
    if where.lower().endswith((".jpg", ".jpeg")):
        raise DataError(f"{where}: masks must be lossless (PNG); JPEG compression changes label values")
    try:
        im = Image.open(io.BytesIO(data))
        im.load()
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise DataError(f"{where}: cannot decode mask ({e})") from None
    if im.mode in _INT_MODES:
        a = np.asarray(im)
        return a.astype(np.uint8) if a.dtype == bool else a
    if im.mode == "LA":
        return np.ascontiguousarray(np.asarray(im)[..., 0])
    if im.mode in ("RGB", "RGBA"):
        a = np.asarray(im)
        if (a[..., :1] == a[..., 1:3]).all():
            return np.ascontiguousarray(a[..., 0])  # a grey mask saved with colour channels
        raise DataError(f"{where}: expected a single-channel label mask (one class index per pixel), got a "
                        f"{im.mode} colour image; convert colours to class indices")
    raise DataError(f"{where}: wrong mask dtype (mode {im.mode}); expected 8- or 16-bit integer labels")


def check_mask(mask: np.ndarray, image_hw: tuple[int, int], num_classes: int | None, ignore_index: int,
               where: str) -> None:
    """Raise a DataError naming ``where`` if the mask's size differs from its image or a label is out of range."""
    if mask.shape[:2] != tuple(image_hw):
        raise DataError(f"{where}: mask is {mask.shape[1]}x{mask.shape[0]} but its image is "
                        f"{image_hw[1]}x{image_hw[0]} (W x H); they must match")
    if num_classes is None:
        return
    bad = (mask >= num_classes) & (mask != ignore_index)
    if bad.any():
        v = int(mask[bad].flat[0])
        raise DataError(f"{where}: label value {v} out of range; expected 0..{num_classes - 1} "
                        f"({num_classes} classes) or {ignore_index} (ignore)")


def mask_tensor(masks: Sequence[np.ndarray]) -> torch.Tensor:
    """Stack (H, W) label masks as uint8 when every label fits, else int32: (N, H, W)."""
    arr = np.stack(masks) if masks else np.zeros((0, *DEFAULT_SIZE), np.uint8)
    return torch.from_numpy(arr.astype(np.uint8 if arr.size == 0 or arr.max() < 256 else np.int32))


def pair_dataset(pairs: Sequence[tuple[np.ndarray, np.ndarray]], ids: Sequence[int], names: list[str],
                 fp: str) -> TensorSampleDataset:
    """In-memory dataset from resized (image (H, W, C) uint8, mask (H, W)) pairs."""
    if pairs:
        images = torch.from_numpy(np.stack([p[0] for p in pairs])).permute(0, 3, 1, 2).contiguous()
    else:
        images = torch.zeros((0, 3, *DEFAULT_SIZE), dtype=torch.uint8)
    masks = mask_tensor([p[1] for p in pairs])
    return TensorSampleDataset(images, {"mask": masks}, names, fp, torch.as_tensor(list(ids), dtype=torch.long))


def resize_pair(image: np.ndarray, mask: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Resize an image (area/bilinear) and its mask (nearest neighbour) to ``size`` = (H, W)."""
    m = mask if mask.dtype != np.uint32 else mask.astype(np.int32)
    return resize(image, size), resize(m[..., None], size, nearest=True)[..., 0]


def decode_all(jobs: Sequence[object], fn: Callable[[object], object], threads: int, what: str) -> list:
    """Run ``fn`` over ``jobs`` in a thread pool (OpenCV and Pillow release the GIL), keeping order, with a
    progress bar."""
    out = []
    with ThreadPoolExecutor(max_workers=threads) as pool, make_progress() as bar:
        job = bar.add_task(f"decode {what}", total=len(jobs))
        for r in pool.map(fn, jobs):
            out.append(r)
            bar.update(job, advance=1)
    return out


# ----------------------------------------------------------------------------------------------- folder pairs
def read_classes(path: Path) -> list[str]:
    """``classes.txt``: one name per line (label = line number) or ``"<id> <name>"`` lines with ids 0..K-1."""
    lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
    parts = [ln.split(maxsplit=1) for ln in lines]
    if parts and all(len(p) == 2 and p[0].isdigit() for p in parts):
        ids = [int(p[0]) for p in parts]
        if ids != list(range(len(ids))):
            raise DataError(f"{path}: ids must be 0..{len(ids) - 1} in order for a masks folder")
        return [p[1] for p in parts]
    return lines


def match_pairs(img_dir: Path, mask_dir: Path, opt: MaskOptions) -> list[tuple[Path, Path]]:
    """(image, mask) paths matched by stem; unmatched files raise (or are skipped with ``unmatched: skip``)."""
    for d in (img_dir, mask_dir):
        if not d.is_dir():
            raise DataError(f"masks source: {d} is not a folder (expected {opt.images}/ and {opt.masks}/)")
    images = {p.stem: p for p in sorted(img_dir.iterdir()) if is_image_file(p)}
    masks = {p.stem.removesuffix(opt.mask_suffix) if opt.mask_suffix else p.stem: p
             for p in sorted(mask_dir.iterdir()) if p.is_file() and p.suffix.lower() in MASK_EXTS | IMAGE_EXTS}
    lonely = sorted(set(images) - set(masks))
    orphans = sorted(set(masks) - set(images))
    if opt.unmatched == "error" and (lonely or orphans):
        if lonely:
            raise DataError(f"{images[lonely[0]]}: no mask {mask_dir / (lonely[0] + opt.mask_suffix)}.* "
                            f"({len(lonely)} images without a mask; set data.options.unmatched: skip to ignore them)")
        raise DataError(f"{masks[orphans[0]]}: no image with stem {orphans[0]!r} in {img_dir} "
                        f"({len(orphans)} masks without an image; set data.options.unmatched: skip to ignore them)")
    pairs = [(images[s], masks[s]) for s in sorted(set(images) & set(masks))]
    if not pairs:
        raise DataError(f"masks source: no image in {img_dir} has a mask with the same stem in {mask_dir}")
    return pairs


def _load_pair(job: tuple[Path, Path, tuple[int, int], int | None, int]) -> tuple[np.ndarray, np.ndarray] | None:
    img_path, mask_path, size, num_classes, ignore = job
    img = read_image(img_path, 3)
    if img is None:
        return None  # unreadable images are counted and skipped, as everywhere else
    mask = read_mask(mask_path.read_bytes(), str(mask_path))
    check_mask(mask, img.shape[:2], num_classes, ignore, str(mask_path))
    return resize_pair(img, mask, size)


def _split_dirs(root: Path, opt: MaskOptions) -> dict[str, Path] | None:
    found = {s: root / s for s in ("train", "val", "test") if (root / s / opt.images).is_dir()}
    return found if "train" in found else None


def _random_split(n: int, cfg: DataConfig) -> dict[str, np.ndarray]:
    perm = np.random.default_rng(cfg.seed).permutation(n)
    n_val, n_test = round(n * cfg.val_fraction), round(n * cfg.test_fraction)
    return {"val": np.sort(perm[:n_val]), "test": np.sort(perm[n_val:n_val + n_test]),
            "train": np.sort(perm[n_val + n_test:])}


def _classes(root: Path, opt: MaskOptions) -> list[str] | None:
    if opt.classes:
        return list(opt.classes)
    return read_classes(root / "classes.txt") if (root / "classes.txt").is_file() else None


def _infer_names(parts: dict[str, list], ignore: int) -> list[str]:
    top = max((int(m[m != ignore].max()) for ps in parts.values() for _, m in ps if (m != ignore).any()), default=0)
    return ["background"] + [f"class{i}" for i in range(1, max(top, 1) + 1)]


@SOURCES.register("masks")
def masks_source(arg: str, cfg: DataConfig, task: str) -> DataSplits:
    """Image + mask folder pairs (see the module docstring) for the ``segmentation`` task."""
    if task != "segmentation":
        raise DataError(f"masks provides segmentation masks, not {task} targets")
    root = Path(arg)
    if not root.is_dir():
        raise DataError(f"masks: {root} is not a folder")
    opt: MaskOptions = options_model(MaskOptions, cfg)
    size = cfg.size_hw() or DEFAULT_SIZE
    names = _classes(root, opt)
    n_cls = len(names) if names else None
    split_dirs = _split_dirs(root, opt)
    if split_dirs:
        files = {s: match_pairs(d / opt.images, d / opt.masks, opt) for s, d in split_dirs.items()}
    else:
        allp = match_pairs(root / opt.images, root / opt.masks, opt)
        files = {s: [allp[i] for i in idx] for s, idx in _random_split(len(allp), cfg).items()}
    parts, dropped = {}, {}
    for s in ("train", "val", "test"):
        jobs = [(i, m, size, n_cls, opt.ignore_index) for i, m in files.get(s, [])]
        loaded = decode_all(jobs, _load_pair, opt.threads, f"{s} image/mask pairs")
        dropped[s] = [str(j[0]) for j, x in zip(jobs, loaded) if x is None]  # named in the stage's warnings
        parts[s] = [x for x in loaded if x is not None]
    names = names or _infer_names(parts, opt.ignore_index)
    fp = fingerprint("masks", str(root.resolve()), size, opt.model_dump(), cfg.seed, cfg.val_fraction,
                     cfg.test_fraction)
    offsets = {"train": 0, "val": len(parts["train"]), "test": len(parts["train"]) + len(parts["val"])}
    ds = {s: pair_dataset(parts[s], range(offsets[s], offsets[s] + len(parts[s])), names, f"{fp}:{s}")
          for s in parts}
    for s, d in ds.items():
        record(d, dropped[s], counted=False)
    return DataSplits(ds["train"], ds["val"], ds["test"], names, 3, size, f"masks:{root}",
                      info={"task_kwargs": {"ignore_index": opt.ignore_index},
                            "split": {s: len(v) for s, v in parts.items()}})
