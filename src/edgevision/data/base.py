"""Dataset contract and the in-memory fast path.

A dataset is indexable and returns a *sample dict*::

    {"image": uint8 tensor (C, H, W), "id": int, <targets>}

with task targets ``label`` (int, classification), ``boxes`` (float (N, 4) xyxy pixels) + ``labels`` (long (N,))
for detection, ``mask`` (long (H, W)) for segmentation, ``box`` (float (4,)) for localization. All images of a
split share one size, so batches stack. Datasets that hold everything in memory also implement
``get_batch(indices)`` and are batched without per-sample Python calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..errors import DataError


class SampleDataset(torch.utils.data.Dataset):
    """Base class: ``__getitem__`` returns a sample dict; ``meta`` carries class names and provenance."""

    class_names: list[str]
    fingerprint: str = ""  # stable hash of source + options + split, used to key caches

    def __len__(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def __getitem__(self, i: int) -> dict[str, Any] | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def name_of(self, i: int) -> str:
        """What sample ``i`` is called in warnings (file-backed datasets give the file)."""
        return f"sample {i}"


class TensorSampleDataset(SampleDataset):
    """All samples as stacked tensors: ``images`` uint8 (N, C, H, W) plus per-sample target tensors."""

    def __init__(self, images: torch.Tensor, targets: dict[str, Any], class_names: list[str],
                 fingerprint: str = "", ids: torch.Tensor | None = None) -> None:
        if images.ndim != 4 or images.dtype != torch.uint8:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {images.dtype} {tuple(images.shape)}")
        self.images = images
        self.targets = targets  # name → tensor (N, ...) or list of length N (ragged, e.g. boxes)
        self.class_names = list(class_names)
        self.fingerprint = fingerprint
        self.ids = ids if ids is not None else torch.arange(len(images))

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict[str, Any]:
        out = {"image": self.images[i], "id": int(self.ids[i])}
        for k, v in self.targets.items():
            out[k] = v[i]
        return out

    def get_batch(self, idx: torch.Tensor) -> dict[str, Any]:
        out: dict[str, Any] = {"image": self.images[idx], "id": self.ids[idx]}
        for k, v in self.targets.items():
            out[k] = v[idx] if isinstance(v, torch.Tensor) else [v[int(i)] for i in idx]
        return out

    def subset(self, idx: np.ndarray | torch.Tensor) -> TensorSampleDataset:
        idx = torch.as_tensor(np.asarray(idx), dtype=torch.long)
        t = {k: (v[idx] if isinstance(v, torch.Tensor) else [v[int(i)] for i in idx]) for k, v in self.targets.items()}
        return TensorSampleDataset(self.images[idx], t, self.class_names, self.fingerprint, self.ids[idx])


class SubsetDataset(SampleDataset):
    """A view of some indices of a file-backed dataset (ids are preserved)."""

    def __init__(self, base: SampleDataset, indices: np.ndarray, tag: str) -> None:
        self.base, self.indices = base, np.asarray(indices, dtype=np.int64)
        self.class_names = base.class_names
        self.fingerprint = f"{base.fingerprint}:{tag}"

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict[str, Any] | None:
        return self.base[int(self.indices[i])]

    def name_of(self, i: int) -> str:
        return self.base.name_of(int(self.indices[i]))


@dataclass
class DataSplits:
    """The train/val/test splits of one source, plus what the model and the card need to know."""

    train: SampleDataset
    val: SampleDataset
    test: SampleDataset
    class_names: list[str]
    channels: int
    input_size: tuple[int, int]  # (H, W)
    source: str
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    resize: str = "stretch"  # how images became input_size (ops.letterbox.RESIZE_MODES)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def split(self, name: str) -> SampleDataset:
        if name not in ("train", "val", "test"):
            raise DataError(f"split {name!r}: expected train, val or test")
        return getattr(self, name)


def collate(samples: list[dict[str, Any] | None]) -> dict[str, Any]:
    """Stack same-shaped tensors; keep ragged ones (boxes) as lists; drop unreadable (None) samples.

    The number of dropped samples is returned under ``"skipped"`` so the trainer can report it.
    """
    good = [s for s in samples if s is not None]
    out: dict[str, Any] = {"skipped": len(samples) - len(good)}
    if not good:
        return out
    for k in good[0]:
        vals = [s[k] for s in good]
        if isinstance(vals[0], torch.Tensor) and all(v.shape == vals[0].shape for v in vals):
            out[k] = torch.stack(vals)
        elif isinstance(vals[0], int | float):
            out[k] = torch.tensor(vals)
        else:
            out[k] = vals
    return out


def stratified_split(labels: np.ndarray, fractions: tuple[float, float], seed: int) -> tuple[np.ndarray, ...]:
    """Split indices into (train, val, test) per class, so each split keeps the class balance.

    ``fractions`` = (val, test). Deterministic for a given seed; no index lands in two splits.
    """
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[], [], []]
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_val, n_test = (round(len(idx) * f) for f in fractions)
        if len(idx) >= 3:
            n_val, n_test = max(n_val, 1 if fractions[0] else 0), max(n_test, 1 if fractions[1] else 0)
        parts[1].append(idx[:n_val])
        parts[2].append(idx[n_val:n_val + n_test])
        parts[0].append(idx[n_val + n_test:])
    return tuple(np.sort(np.concatenate(p)) if p else np.zeros(0, np.int64) for p in parts)
