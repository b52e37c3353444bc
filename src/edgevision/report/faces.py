"""Report sections of face recognition: open-set ROC and operating points (``faces_eval.json``), and the
Björgvinsdóttir & Seibold (2016)
data experiments (``faces_experiments.json``: accuracy against images per identity, input size, cropping)."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from .html import SECTIONS, esc, section, table
from .plots import to_data_uri
from .runs import StageView


def roc_plot(rocs: dict[str, dict[str, Any]]) -> str:
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for name, r in rocs.items():
        ax.plot(np.maximum(r["far"], 1e-4), r["tar"], lw=1.5, label=name)
    ax.set(xscale="log", xlabel="false accept rate (test impostors)", ylabel="true accept rate (right name, ≥ τ)",
           ylim=(0, 1.02))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return to_data_uri(fig)


@SECTIONS.register("faces", order=33)
def faces_section(views: list[StageView]) -> str | None:
    """Rank-1, TAR/FAR at the thresholds chosen on validation, and the ROC of every ``faces_eval`` stage."""
    rows, rocs = [], {}
    for v in views:
        ev = v.json("faces_eval.json")
        if not ev:
            continue
        if "openset" not in ev:
            rows.append([v.name, "", ev["rank1_test"], "", "", "", "", ""])
        for kind, label in (("openset", "identification"), ("verification", "1:1 pairs")):
            for op in (ev.get(kind) or {}).get("operating_points", []):
                rows.append([v.name, label, ev["rank1_test"], f"{op['target_far']:.2%}", op["val"]["threshold"],
                             op["test"]["far"], op["test"]["tar"], op["test"]["frr"]])
            if kind in ev:
                rocs[f"{v.name} ({label})"] = ev[kind]["roc_test"]
    if not rows:
        return None
    body = table(["stage", "open-set view", "rank-1 (test)", "target FAR", "τ (val)", "FAR (test)", "TAR (test)",
                  "FRR (test)"], rows)
    if rocs:
        body += f'<img alt="open-set ROC" src="{roc_plot(rocs)}">'
    return section("Faces: identification and open set", body, "faces")


def _curve(ax: plt.Axes, rows: list[dict[str, Any]], x: str, label: str) -> None:
    pts = sorted((r[x], r["top1"]) for r in rows)
    ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3, label=label)


def experiments_plot(exp: dict[str, Any]) -> str:
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for aug in ("none", "doc"):
        rows = [r for r in exp.get("images_per_id", []) if r["augment"] == aug]
        if rows:
            _curve(axes[0], rows, "n", f"augmentation: {aug}")
    axes[0].set(xlabel="training images per identity", ylabel="test top-1", ylim=(0, 1.02))
    if exp.get("input_size"):
        _curve(axes[1], exp["input_size"], "size", "top-1")
    axes[1].set(xlabel="input side (px)", ylabel="test top-1", ylim=(0, 1.02))
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return to_data_uri(fig)


@SECTIONS.register("faces_experiments", order=34)
def faces_experiments_section(views: list[StageView]) -> str | None:
    """Björgvinsdóttir & Seibold (2016) §2.8: accuracy against data quantity (with/without augmentation), input size,
    and cropping."""
    parts = []
    for v in views:
        exp = v.json("faces_experiments.json")
        if not exp:
            continue
        crop = [[r["crop"], r["top1"], r.get("no_face", "")] for r in exp.get("crop", [])]
        parts.append(f"<h3>{esc(v.name)}</h3><img alt='data experiments' src='{experiments_plot(exp)}'>"
                     + (table(["cropping", "test top-1", "images without a face"], crop) if crop else ""))
    title = "Faces: data experiments (Björgvinsdóttir & Seibold 2016, §2.8)"
    return section(title, "".join(parts), "faces-data") if parts else None
