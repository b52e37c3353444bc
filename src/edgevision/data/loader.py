"""Batching: a seeded, rank-sharded order of indices, then uint8 → float → augment → normalize.

In-memory datasets are indexed a whole batch at a time (no per-sample Python); file-backed ones go through a
``torch.utils.data.DataLoader`` with worker processes. Either way the augmentation of batch *k* in epoch *e*
uses a generator seeded from ``(seed, e, k)``, so order and augmentation replay exactly after a resume and do
not depend on the number of workers.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

import torch

from ..utils.seed import derive_seed
from .augment import AugmentConfig, Augmenter
from .base import SampleDataset, TensorSampleDataset, collate
from .unreadable import name_of, record, warn_new


class BatchTransform:
    """uint8 (B, C, H, W) → float [0, 1] → optional augmentation → (x − mean) / std."""

    def __init__(self, mean: list[float], std: list[float], augment: AugmentConfig | None = None,
                 epochs: int | None = None) -> None:
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
        on = augment is not None and not augment.is_identity()
        self.augmenter = Augmenter(augment, epochs) if on else None

    def set_epoch(self, epoch: int) -> None:
        """Tell the augmenter the epoch (``close_mosaic`` turns mosaic and mixup off for the last epochs)."""
        if self.augmenter is not None:
            self.augmenter.set_epoch(epoch)

    def __call__(self, batch: dict[str, Any], gen: torch.Generator | None) -> dict[str, Any]:
        if "image" not in batch:
            return batch
        batch["image"] = batch["image"].float().div_(255)
        if self.augmenter is not None and gen is not None:
            batch = self.augmenter(batch, gen)
        batch["image"] = (batch["image"] - self.mean) / self.std
        return batch


class _Indexed(torch.utils.data.Dataset):
    """Wraps a dataset so workers receive ``(batch_index, sample_index)`` and tag samples with both."""

    def __init__(self, ds: SampleDataset) -> None:
        self.ds = ds

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, key: tuple[int, int]) -> tuple[int, int, dict | None]:
        return key[0], key[1], self.ds[key[1]]


class _Collate:
    def __init__(self, transform: BatchTransform, seeds: tuple[int, int], train: bool) -> None:
        self.transform, self.seeds, self.train = transform, seeds, train

    def __call__(self, items: list[tuple[int, int, dict | None]]) -> dict[str, Any]:
        batch = collate([s for _, _, s in items])
        batch["skipped_index"] = [i for _, i, s in items if s is None]  # named by the main process
        return self.transform(batch, _gen(*self.seeds, items[0][0]) if self.train else None)


def _gen(seed: int, epoch: int, batch_index: int) -> torch.Generator:
    return torch.Generator().manual_seed(derive_seed(seed, epoch, batch_index))


def _prefetch(it: Iterator[dict], depth: int = 2) -> Iterator[dict]:
    """Run ``it`` in a background thread (torch ops release the GIL), keeping ``depth`` batches ready.

    If the consumer stops early, the producer notices within 0.1 s and exits.
    """
    q: queue.Queue = queue.Queue(depth)
    stop = threading.Event()
    done = object()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in it:
                if not put(item):
                    return
        except BaseException as e:  # re-raised in the consumer
            put(e)
        put(done)

    threading.Thread(target=work, daemon=True).start()
    try:
        while (item := q.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


class BatchLoader:
    """Iterates batch dicts for one epoch; call :meth:`set_epoch` before each epoch.

    Args:
        dataset: a :class:`SampleDataset`.
        batch_size: samples per batch on this rank.
        shuffle: permute the order each epoch (seeded by ``seed`` and the epoch).
        transform: the batch transform (augmentation only when ``train``).
        train: whether to augment.
        num_workers: DataLoader workers for file-backed datasets.
        rank, world: DDP sharding; each rank sees a disjoint ``1/world`` of the (padded) order.
        split: the split's name in warnings about unreadable files (``train``, ``val``, ``test``).
    """

    def __init__(self, dataset: SampleDataset, batch_size: int, *, shuffle: bool, transform: BatchTransform,
                 train: bool = False, seed: int = 0, num_workers: int = 0, drop_last: bool = False, rank: int = 0,
                 world: int = 1, split: str = "data") -> None:
        self.dataset, self.batch_size, self.shuffle = dataset, batch_size, shuffle
        self.transform, self.train, self.seed = transform, train, seed
        self.num_workers, self.drop_last, self.rank, self.world = num_workers, drop_last, rank, world
        self.split = split
        self.epoch = 0

    def report_unreadable(self) -> None:
        """One warning line naming the unreadable files met since the last report (called after each pass)."""
        warn_new(self.dataset, self.split)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if self.train:
            self.transform.set_epoch(epoch)

    def _order(self) -> torch.Tensor:
        n = len(self.dataset)
        if self.shuffle:
            idx = torch.randperm(n, generator=torch.Generator().manual_seed(derive_seed(self.seed, self.epoch)))
        else:
            idx = torch.arange(n)
        if self.world > 1:  # pad so every rank gets the same number of samples, as DistributedSampler does
            pad = (-n) % self.world
            idx = torch.cat([idx, idx[:pad]])[self.rank::self.world]
        return idx

    def _batches(self) -> list[torch.Tensor]:
        idx = self._order()
        chunks = list(idx.split(self.batch_size))
        if self.drop_last and chunks and len(chunks[-1]) < self.batch_size and len(chunks) > 1:
            chunks = chunks[:-1]
        return chunks

    def __len__(self) -> int:
        return len(self._batches())

    def __iter__(self) -> Iterator[dict[str, Any]]:
        batches = self._batches()
        if isinstance(self.dataset, TensorSampleDataset):
            return _prefetch(self._memory_iter(batches))
        return self._worker_iter(batches)

    def _memory_iter(self, batches: list[torch.Tensor]) -> Iterator[dict[str, Any]]:
        for k, idx in enumerate(batches):
            batch = self.dataset.get_batch(idx)
            batch["skipped"] = 0
            yield self.transform(batch, _gen(self.seed, self.epoch, k) if self.train else None)

    def _worker_iter(self, batches: list[torch.Tensor]) -> Iterator[dict[str, Any]]:
        sampler = [[(k, int(i)) for i in idx] for k, idx in enumerate(batches)]
        dl = torch.utils.data.DataLoader(_Indexed(self.dataset), batch_sampler=sampler,
                                         collate_fn=_Collate(self.transform, (self.seed, self.epoch), self.train),
                                         num_workers=self.num_workers, persistent_workers=False)
        for batch in dl:
            if bad := batch.pop("skipped_index", None):
                record(self.dataset, [name_of(self.dataset, i) for i in bad])
            yield batch
