"""MNIST from the four official idx ``.gz`` files (LeCun et al. 1998)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .base import DataSplits, TensorSampleDataset, stratified_split
from .imageio import resize
from .paths import require_dataset
from .sources import SOURCES, DataConfig, fingerprint

FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def read_idx(path: Path) -> np.ndarray:
    """Parse an idx file (optionally gzipped): magic 0x0000 08 <ndim>, big-endian dims, then uint8 data."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DataError(f"{path}: cannot read idx file ({e})") from None
    if len(raw) < 8 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path}: not an idx uint8 file (bad magic number)")
    ndim = raw[3]
    dims = np.frombuffer(raw, ">u4", ndim, 4).astype(int)
    body = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise DataError(f"{path}: truncated idx file ({body.size} bytes of data for shape {tuple(dims)})")
    return body.reshape(dims)


def _find(root: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem, stem.replace("-idx", ".idx") + ".gz", stem.replace("-idx", ".idx")):
        if (root / name).exists():
            return root / name
    raise DataError(f"{root}: missing MNIST file {stem}.gz")


def load_mnist_arrays(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) uint8 and labels (N,) of ``split`` ("train" or "test")."""
    img_stem, lab_stem = FILES[split]
    x, y = read_idx(_find(root, img_stem)), read_idx(_find(root, lab_stem))
    if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
        raise DataError(f"{root}: MNIST {split} images {x.shape} and labels {y.shape} do not match")
    return x, y.astype(np.int64)  # astype copies, so the label array is writable


def _tensor(x: np.ndarray, size: tuple[int, int], channels: int) -> torch.Tensor:
    if size != (28, 28):
        x = np.stack([resize(im[..., None], size)[..., 0] for im in x])
    t = torch.from_numpy(np.array(x, copy=True))[:, None]
    return t.expand(-1, channels, -1, -1).contiguous() if channels == 3 else t


@SOURCES.register("mnist")
def mnist_source(arg: str, cfg: DataConfig, task: str) -> DataSplits:
    """Train/val from the 60k training file (stratified by ``val_fraction``); test is the official 10k."""
    if task != "classification":
        raise DataError(f"mnist provides classification labels only, not {task}")
    root = Path(arg) if arg else require_dataset("mnist")
    if not root.is_dir():
        raise DataError(f"mnist: {root} is not a folder")
    size, ch = cfg.size_hw() or (28, 28), cfg.channels or 1
    xtr, ytr = load_mnist_arrays(root, "train")
    xte, yte = load_mnist_arrays(root, "test")
    tr, va, _ = stratified_split(ytr, (cfg.val_fraction, 0.0), cfg.seed)
    fp = fingerprint("mnist", str(root), size, ch, cfg.val_fraction, cfg.seed)
    names = [str(i) for i in range(10)]

    def make(x: np.ndarray, y: np.ndarray, ids: np.ndarray, tag: str) -> TensorSampleDataset:
        return TensorSampleDataset(_tensor(x, size, ch), {"label": torch.from_numpy(y)}, names, f"{fp}:{tag}",
                                   torch.from_numpy(ids))

    return DataSplits(make(xtr[tr], ytr[tr], tr, "train"), make(xtr[va], ytr[va], va, "val"),
                      make(xte, yte, np.arange(len(yte)) + 60000, "test"), names, ch, size, f"mnist:{root}")
