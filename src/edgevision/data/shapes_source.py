"""The ``synthetic:shapes`` source: pre-generates each split in memory from :class:`ShapesGenerator`."""

from __future__ import annotations

import functools

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from ..errors import DataError
from ..utils.seed import derive_seed
from .base import DataSplits, TensorSampleDataset
from .sources import SOURCES, DataConfig, fingerprint, options_model
from .synthetic import SHAPES, ShapesGenerator


class ShapesOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    num_classes: int = Field(6, ge=2, le=len(SHAPES))
    n_train: int = Field(3000, ge=1)
    n_val: int = Field(500, ge=0)
    n_test: int = Field(1000, ge=0)
    max_objects: int | None = Field(None, ge=1, le=16, description="default 1 (classification) or 4")
    occluders: int = Field(2, ge=0, le=8)
    noise: float = Field(10.0, ge=0, le=128)


@functools.lru_cache(maxsize=16)
def _generate(gen: ShapesGenerator, n: int) -> dict[str, object]:
    samples = [gen.sample(i) for i in range(n)]
    if not samples:
        c = gen.channels
        return {"image": np.zeros((0, gen.size, gen.size, c), np.uint8), "label": np.zeros(0, np.int64),
                "mask": np.zeros((0, gen.size, gen.size), np.uint8), "boxes": [], "labels": []}
    return {k: (np.stack([s[k] for s in samples]) if k in ("image", "label", "mask") else [s[k] for s in samples])
            for k in samples[0]}


def _dataset(gen: ShapesGenerator, n: int, task: str, fp: str) -> TensorSampleDataset:
    arr = _generate(gen, n)
    images = torch.from_numpy(arr["image"]).permute(0, 3, 1, 2).contiguous()
    targets: dict[str, object] = {}
    if task in ("classification", "localization"):
        targets["label"] = torch.from_numpy(arr["label"])
    if task == "localization":
        targets["box"] = torch.tensor(np.stack([b[0] for b in arr["boxes"]]) if n else np.zeros((0, 4), np.float32))
    if task == "detection":
        targets["boxes"] = [torch.from_numpy(b) for b in arr["boxes"]]
        targets["labels"] = [torch.from_numpy(b) for b in arr["labels"]]
    if task == "segmentation":
        targets["mask"] = torch.from_numpy(arr["mask"])
    names = ["background", *gen.class_names] if task == "segmentation" else gen.class_names
    return TensorSampleDataset(images, targets, names, fp)


@SOURCES.register("synthetic", description="procedural shapes, no download (synthetic:shapes), for every task")
def synthetic_source(arg: str, cfg: DataConfig, task: str) -> DataSplits:
    if arg not in ("shapes", ""):
        raise DataError(f"synthetic:{arg}: unknown generator; available: synthetic:shapes")
    opt: ShapesOptions = options_model(ShapesOptions, cfg)
    size = cfg.size_hw() or (48, 48)
    if size[0] != size[1]:
        raise DataError(f"synthetic:shapes generates square images; got input_size {size[0]}x{size[1]}")
    max_obj = opt.max_objects or (1 if task in ("classification", "localization") else 4)
    if task == "localization" and max_obj != 1:
        raise DataError("synthetic:shapes localization needs max_objects = 1 (one box per image)")
    ch = cfg.channels or 3
    splits = {}
    for k, (name, n) in enumerate((("train", opt.n_train), ("val", opt.n_val), ("test", opt.n_test))):
        gen = ShapesGenerator(opt.num_classes, size[0], derive_seed(cfg.seed, k), max_obj, opt.occluders, opt.noise,
                              ch)
        splits[name] = _dataset(gen, n, task, fingerprint("shapes", opt.model_dump(), size, ch, cfg.seed, name, task))
    names = list(SHAPES[: opt.num_classes])
    if task == "segmentation":  # mask label 0 is the background, label c + 1 is shape class c
        names = ["background", *names]
    return DataSplits(splits["train"], splits["val"], splits["test"], names, ch, size, "synthetic:shapes",
                      info={"options": opt.model_dump()})
