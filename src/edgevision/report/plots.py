"""Matplotlib figures rendered to inline PNG (base64 data URIs), so the HTML needs no other files."""

from __future__ import annotations

import base64
import io
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def to_data_uri(fig: plt.Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def training_curves(history: list[dict[str, Any]], primary: str, title: str) -> str | None:
    """Loss (train/val) and the primary metric (train/val) against epoch."""
    if not history:
        return None
    ep = [r["epoch"] for r in history]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for ax, key in zip(axes, ("loss", primary)):
        for split, style in (("train", "-"), ("val", "--")):
            ys = [r.get(f"{split}_{key}") for r in history]
            if any(y is not None for y in ys):
                ax.plot(ep, [np.nan if y is None else y for y in ys], style, marker="o", ms=3, label=split)
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    return to_data_uri(fig)


def confusion(cm: list[list[int]], names: list[str], title: str) -> str:
    a = np.asarray(cm)
    n = len(names)
    fig, ax = plt.subplots(figsize=(1.2 + 0.45 * n, 1.0 + 0.45 * n))
    ax.imshow(a, cmap="Blues")
    ax.set_xticks(range(n), names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(n), names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 20:
        for i in range(n):
            for j in range(n):
                ax.text(j, i, str(a[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if a[i, j] > a.max() / 2 else "black")
    ax.set_title(title)
    return to_data_uri(fig)
