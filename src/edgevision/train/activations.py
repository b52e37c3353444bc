"""Activation statistics per layer on one batch: the "dead ReLU" diagnostic, written as ``activations.json``.

OpenCV GSoC 2017 looked at activation histograms to find dead units: a ReLU unit (channel) whose output is 0 for
every input never passes a gradient and never comes back. Every stage that produces a model (and ``eval``) runs one
batch of the validation split (``SAMPLE`` images, no augmentation) with forward hooks on every activation module
and writes, per layer,

    dead share = |{c : max_{b, h, w} y[b, c, h, w] ≤ 0}| / C

plus the share of zero (≤ 0) outputs and a histogram of the values, for the report to draw.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..data import BatchLoader, BatchTransform, DataSplits
from ..utils.io import write_json

ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Hardswish, nn.Mish)
SAMPLE = 64
BINS = 40


def activation_stats(model: nn.Module, x: torch.Tensor, max_values: int = 20000, seed: int = 0
                     ) -> list[dict[str, Any]]:
    """Per activation layer: units, dead units, zero share and a histogram of one forward pass on ``x``.

    Hooks every activation module (a module applied several times gets one row per call, ``name#k``); models that
    use functional activations only fall back to the outputs of Conv/Linear layers (pre-activations: a unit with
    max ≤ 0 there is still dead after a ReLU).
    """
    mods = [(n, m) for n, m in model.named_modules() if isinstance(m, ACTIVATIONS)]
    if not mods:
        mods = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    rows: list[dict[str, Any]] = []
    calls: dict[str, int] = {}
    gen = np.random.default_rng(seed)

    def hook(name: str, kind: str):
        def fn(_m: nn.Module, _inp: Any, out: Any) -> None:
            if not isinstance(out, torch.Tensor) or out.dim() < 2:
                return
            k = calls[name] = calls.get(name, 0) + 1
            rows.append(_layer_row(f"{name}#{k}" if k > 1 else name, kind, out.detach().float(), max_values, gen))
        return fn

    handles = [m.register_forward_hook(hook(n or "(root)", type(m).__name__)) for n, m in mods]
    try:
        with torch.inference_mode():
            model.eval()(x)
    finally:
        for h in handles:
            h.remove()
    return rows


def _layer_row(name: str, kind: str, y: torch.Tensor, max_values: int, gen: np.random.Generator) -> dict[str, Any]:
    """y (B, C, ...) → the row of one layer (units = channels, dim 1)."""
    per_unit = y.transpose(0, 1).reshape(y.shape[1], -1)  # (C, B·H·W)
    dead = int((per_unit.amax(1) <= 0).sum())
    flat = y.reshape(-1).numpy()
    vals = flat if flat.size <= max_values else flat[gen.choice(flat.size, max_values, replace=False)]
    counts, edges = np.histogram(vals, bins=BINS)
    return {"layer": name, "kind": kind, "units": int(y.shape[1]), "dead": dead, "dead_frac": dead / y.shape[1],
            "zero_frac": float((flat <= 0).mean()), "mean": float(flat.mean()), "std": float(flat.std()),
            "counts": counts.tolist(), "edges": edges.tolist()}


def sample_batch(splits: DataSplits, n: int = SAMPLE) -> torch.Tensor | None:
    """``n`` normalized images of the validation split (test if val is empty), or None without images."""
    ds = splits.val if len(splits.val) else splits.test
    if not len(ds):
        return None
    loader = BatchLoader(ds, n, shuffle=False, transform=BatchTransform(splits.mean, splits.std))
    return next((b["image"] for b in loader if "image" in b), None)


def write_activations(path: Path, model: nn.Module, splits: DataSplits) -> Path | None:
    """Write ``activations.json`` (``{"sample": n, "layers": [...]}``) for ``model`` on one validation batch."""
    x = sample_batch(splits)
    if x is None or not any(True for _ in model.parameters()):
        return None
    return write_json(path, {"sample": len(x), "layers": activation_stats(model, x)})
