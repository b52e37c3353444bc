"""The offline teacher cache (Asplund 2016): run the teacher once over the training split, keep its logits.

Layout of one cache entry, ``<cache_dir>/<key>/``::

    ids.npy      int64 (N,), sorted sample ids
    logits.npy   float32 (N, C, ...), row i = teacher logits of sample ids[i]
    meta.json    teacher, dataset fingerprint, shapes; written last, so its presence marks a complete entry

Plain ``.npy`` files (``allow_pickle=False``) opened memory-mapped, so a per-pixel cache larger than RAM works.
``key`` hashes the teacher (sha256 of the artifact bytes, or the OpenCV detector's identity and options), the
dataset fingerprint, the sample ids and the cache options: a retrained teacher or changed data gets a new key,
an identical run reuses the entry. The entry is built in a temporary folder and renamed into place atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...data.base import SampleDataset
from ...data.loader import BatchLoader, BatchTransform
from ...errors import DataError
from ...utils.io import atomic_open, temp_dir_beside, write_json
from ...utils.progress import console, make_progress
from .teachers import Teacher

FORMAT = 1


def default_cache_dir() -> Path:
    """``$EDGEVISION_CACHE/teacher-logits`` or ``~/.cache/edgevision/teacher-logits``."""
    root = os.environ.get("EDGEVISION_CACHE") or Path.home() / ".cache" / "edgevision"
    return Path(root) / "teacher-logits"


def sample_ids(ds: SampleDataset) -> np.ndarray:
    """The ids of every sample, in dataset order (fast for in-memory datasets)."""
    ids = getattr(ds, "ids", None)
    if isinstance(ids, torch.Tensor):
        return ids.numpy().astype(np.int64)
    return np.array([int(ds[i]["id"]) for i in range(len(ds))], np.int64)


def cache_key(teacher: Teacher, ds: SampleDataset, ids: np.ndarray, options: dict[str, Any]) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"format": FORMAT, "teacher": teacher.fingerprint(), "data": ds.fingerprint,
                         "n": len(ids), "options": options}, sort_keys=True).encode())
    h.update(np.sort(ids).tobytes())
    return h.hexdigest()[:24]


def _save_npy(path: Path, arr: np.ndarray) -> None:
    with atomic_open(path, "wb") as f:
        np.save(f, arr, allow_pickle=False)


class TeacherCache:
    """Teacher logits of one dataset on disk, looked up by sample id (``batch["id"]``)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.ids: np.ndarray | None = None
        self.logits: np.ndarray | None = None
        self.reused = False

    @classmethod
    def for_teacher(cls, teacher: Teacher, ds: SampleDataset, cache_dir: str | Path | None = None,
                    options: dict[str, Any] | None = None) -> TeacherCache:
        ids = sample_ids(ds)
        if len(np.unique(ids)) != len(ids):
            raise DataError("the dataset has duplicate sample ids; the teacher cache needs unique ids")
        root = Path(cache_dir) if cache_dir else default_cache_dir()
        cache = cls(root / cache_key(teacher, ds, ids, options or {}))
        if cache.complete():
            try:
                cache.open()
                cache.reused = True
                return cache
            except DataError as e:  # derived data: rebuild rather than fail
                console.print(f"[yellow]warning:[/] {e}; rebuilding it", highlight=False)
                shutil.rmtree(cache.path, ignore_errors=True)
        cache.build(teacher, ds, options or {})
        return cache.open()

    def complete(self) -> bool:
        return (self.path / "meta.json").is_file()

    def build(self, teacher: Teacher, ds: SampleDataset, options: dict[str, Any], batch_size: int = 256) -> None:
        """Run ``teacher`` over ``ds`` (un-augmented, [0, 1] pixels) and write the entry atomically."""
        c = int(ds[0]["image"].shape[0]) if len(ds) else 3
        loader = BatchLoader(ds, batch_size, shuffle=False, transform=BatchTransform([0.0] * c, [1.0] * c))
        ids, rows = [], []
        with torch.inference_mode(), make_progress() as bar:
            job = bar.add_task(f"teacher logits ({teacher.name})", total=len(loader))
            for batch in loader:
                if "image" in batch:
                    rows.append(teacher.logits(batch["image"]).float().numpy())
                    ids.append(batch["id"].numpy())
                bar.update(job, advance=1)
        ids_a, logits = np.concatenate(ids).astype(np.int64), np.concatenate(rows).astype(np.float32)
        order = np.argsort(ids_a, kind="stable")
        self._write(ids_a[order], logits[order], {"format": FORMAT, "teacher": teacher.fingerprint(),
                                                  "data": ds.fingerprint, "options": options,
                                                  "shape": list(logits.shape)})

    def _write(self, ids: np.ndarray, logits: np.ndarray, meta: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_dir_beside(self.path)
        try:
            _save_npy(tmp / "ids.npy", ids)
            _save_npy(tmp / "logits.npy", logits)
            write_json(tmp / "meta.json", meta)
            try:
                os.replace(tmp, self.path)  # atomic; fails if another process finished the same entry first
            except OSError:
                if not self.complete():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def open(self) -> TeacherCache:
        try:
            self.ids = np.load(self.path / "ids.npy", mmap_mode="r", allow_pickle=False)
            self.logits = np.load(self.path / "logits.npy", mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as e:
            raise DataError(f"{self.path}: unreadable teacher cache ({str(e).splitlines()[0][:120]})") from None
        if self.ids.ndim != 1 or len(self.logits) != len(self.ids):
            raise DataError(f"{self.path}: teacher cache ids {self.ids.shape} and logits {self.logits.shape} disagree")
        return self

    def lookup(self, ids: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Teacher logits (B, C, ...) for sample ids (B,)."""
        q = np.asarray(ids, np.int64)
        pos = np.searchsorted(self.ids, q).clip(max=len(self.ids) - 1)
        missing = self.ids[pos] != q
        if missing.any():
            raise DataError(f"{self.path}: sample id {int(q[missing][0])} is not in the teacher cache")
        return torch.from_numpy(np.ascontiguousarray(self.logits[pos]))
