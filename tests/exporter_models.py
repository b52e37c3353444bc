"""The three graphs every exporter is tested on: a plain CNN, one with residuals and one with concats, each trained
one epoch on 4 synthetic shapes at 32 px (the data gives int8 its calibration)."""

from __future__ import annotations

from pathlib import Path

import edgevision as ev
from conftest import tiny_data

MODELS = {"plain": ("student_cnn", {"width": 8, "depth": 2}), "residual": ("resnet8", {}),
          "concat": ("squeezenet1_1", {})}


def train_each(root: Path) -> dict[str, Path]:
    """kind → the trained artifact of each of :data:`MODELS`."""
    return {k: ev.train(model=m, model_kwargs=kw, data=tiny_data(n_train=64, size=32), epochs=1, batch_size=32,
                        out=root / k).artifact for k, (m, kw) in MODELS.items()}
