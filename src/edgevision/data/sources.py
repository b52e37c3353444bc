"""Data configuration and the registry of sources (``synthetic:shapes``, ``mnist``, ImageFolder paths, …).

A source string is ``format:argument`` (``synthetic:shapes``, ``mnist:/data/mnist``) or a bare path whose
format is detected (a folder of idx ``.gz`` files is MNIST, otherwise ImageFolder), or a bare shared-dataset
name (``mnist``) found under ``$EDGEVISION_DATA`` or ``../shared/datasets``. Later formats (Penn-Fudan, COCO,
VOC, YOLO, ORL, masks) register in :data:`SOURCES` with the same signature.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel

from ..config import validate
from ..configs.data import DataConfig
from ..errors import ConfigError, DataError, EdgevisionError
from ..registry import Registry
from .base import DataSplits, SampleDataset, SubsetDataset, TensorSampleDataset

SourceFn = Callable[[str, "DataConfig", str], DataSplits]
SOURCES: Registry = Registry("data format", builtins=("edgevision.data", "edgevision.faces"), plural="sources")
TASK_TARGETS = {"classification": ("label",), "localization": ("box", "label"), "detection": ("boxes", "labels"),
                "segmentation": ("mask",), "face": ("label",)}




def fingerprint(*parts: Any) -> str:
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def parse_source(source: str) -> tuple[str, str]:
    """Split a source string into (format, argument), detecting the format of bare paths and names."""
    fmt, sep, arg = source.partition(":")
    if sep and fmt in SOURCES and not (len(fmt) == 1 and arg.startswith("\\")):
        return fmt, arg
    if fmt in SOURCES and not sep:
        return fmt, ""
    p = Path(source)
    if p.is_dir() and any(p.glob("*idx3-ubyte*")):
        return "mnist", source
    if p.exists():
        return "imagefolder", source
    raise DataError(f"data source {source!r}: no such path, and not a known format "
                    f"(formats: {', '.join(SOURCES.names())}; e.g. synthetic:shapes, mnist, /path/to/imagefolder)")


def load_data(cfg: DataConfig, task: str = "classification") -> DataSplits:
    """Open ``cfg.source`` for ``task`` and return its train/val/test splits with normalization stats."""
    if task not in TASK_TARGETS:
        raise EdgevisionError(f"task {task!r}: expected one of {', '.join(TASK_TARGETS)}")
    fmt, arg = parse_source(cfg.source)
    splits = SOURCES.get(fmt)(arg, cfg, "classification" if task == "face" else task)  # face = identity labels
    if splits.resize != cfg.resize:
        raise ConfigError(f"data.resize={cfg.resize}: source {cfg.source!r} ({task}) only stretches images to "
                          f"input_size; letterbox is for the detection formats (pennfudan, voc, coco, yolo)")
    if cfg.limit:
        for name in ("train", "val", "test"):
            setattr(splits, name, _limit(splits.split(name), cfg.limit, cfg.seed))
    if len(splits.train) == 0:
        raise DataError(f"data source {cfg.source!r}: the training split is empty")
    if cfg.mean is not None and cfg.std is not None:
        splits.mean, splits.std = list(cfg.mean), list(cfg.std)
    elif not splits.mean:
        splits.mean, splits.std = channel_stats(splits.train)
    return splits


def _limit(ds: SampleDataset, n: int, seed: int) -> SampleDataset:
    if len(ds) <= n:
        return ds
    idx = np.sort(np.random.default_rng(seed).permutation(len(ds))[:n])
    if isinstance(ds, TensorSampleDataset):
        return ds.subset(idx)
    return SubsetDataset(ds, idx, f"limit{n}")


def channel_stats(ds: SampleDataset, max_samples: int = 512) -> tuple[list[float], list[float]]:
    """Per-channel mean and std on the [0, 1] scale from up to ``max_samples`` evenly spaced samples."""
    n = len(ds)
    idx = np.unique(np.linspace(0, n - 1, min(n, max_samples)).astype(int))
    if isinstance(ds, TensorSampleDataset):
        x = ds.images[torch.as_tensor(idx)].float() / 255
    else:
        imgs = [s["image"] for i in idx if (s := ds[int(i)]) is not None]
        if not imgs:
            raise DataError("no readable images found to compute normalization statistics")
        x = torch.stack(imgs).float() / 255
    mean = x.mean((0, 2, 3))
    std = x.std((0, 2, 3)).clamp(min=1e-3)
    return [round(float(v), 5) for v in mean], [round(float(v), 5) for v in std]


def options_model(model: type[BaseModel], cfg: DataConfig) -> Any:
    """Validate ``cfg.options`` against a format's options model, naming bad keys as ``data.options.<key>``."""
    return validate(model, cfg.options, prefix="data.options")


__all__ = ["SOURCES", "DataConfig", "load_data", "parse_source"]
