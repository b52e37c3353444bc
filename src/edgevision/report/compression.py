"""Report sections of the Deep Compression stages, drawn from run-folder files only.

- *Compression*: ``compression.json`` of each ``pack`` stage — totals and the per-layer size table.
- *Weight histograms*: ``weights_hist.json`` of ``prune`` and ``cluster`` stages — nonzero weights before and
  after (Han et al. 2016, Fig. 4–5 style), shared values marked, plus ``prune_trace.json``'s sparsity curve.
- *Pruning sensitivity*: ``sensitivity.png`` and the proposal of each ``sensitivity`` stage.
"""

from __future__ import annotations

import base64
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from ..utils.text import size_vs
from .html import SECTIONS, esc, fmt, section, table
from .plots import to_data_uri
from .runs import StageView

MAX_PANELS = 8


def _table_rows(comp: dict[str, Any]) -> list[list[Any]]:
    """Weight tensors one per row; every other tensor (biases, BN) summed into one row."""
    rows, rest = [], {"params": 0, "nonzeros": 0, "fixed": 0, "bytes": 0, "n": 0}
    for r in comp["tensors"]:
        if len(r["shape"]) >= 2:
            rows.append([r["name"], "×".join(map(str, r["shape"])), r["encoding"], r["params"], r["nonzeros"],
                         f"{r['nonzeros'] / max(r['params'], 1):.1%}", r["codebook"] or "–", r["bits_index"] or "–",
                         r["bits_gap"] or "–", r["fillers"] or "–", r["fixed_bytes"], r["bytes"], r["rate"],
                         r.get("closed_form_rate", "–")])
        else:
            rest["params"] += r["params"]
            rest["nonzeros"] += r["nonzeros"]
            rest["fixed"] += r["fixed_bytes"]
            rest["bytes"] += r["bytes"]
            rest["n"] += 1
    if rest["n"]:
        rows.append([f"{rest['n']} other tensors (bias, norm)", "", "", rest["params"], rest["nonzeros"], "", "–",
                     "–", "–", "–", rest["fixed"], rest["bytes"], round(rest["params"] * 4 / max(rest["bytes"], 1), 2),
                     "–"])
    return rows


HEADERS = ["tensor", "shape", "encoding", "params", "nonzeros", "density", "shared values", "bits / index",
           "bits / gap", "fillers", "bytes before Huffman", "bytes after", "rate vs fp32", "closed form r"]


@SECTIONS.register("compression", order=45)
def compression_section(views: list[StageView]) -> str | None:
    parts = []
    for v in views:
        comp = v.json("compression.json")
        if not comp or "totals" not in comp:
            continue
        t = comp["totals"]
        parts.append(
            f"<h3>{esc(v.name)}</h3><p><b>{fmt(t['evz_bytes'])}</b> bytes on disk, "
            f"<b>{size_vs(t['evz_bytes'], t['dense_bytes'])}</b> {fmt(t['dense_bytes'])} bytes of dense fp32. "
            f"Tensor payloads "
            f"{fmt(t['payload_bytes'])} bytes ({fmt(t['payload_fixed_bytes'])} before Huffman, "
            f"{t['huffman_saving']:.1%} saved); container (header, architecture, card, tensor table) "
            f"{fmt(t['container_bytes'])} bytes. {fmt(t['nonzeros'])} of {fmt(t['params'])} values are nonzero. "
            f"Decoded weights {'were verified bit-exact' if comp.get('verified') else 'were not verified'}.</p>"
            + table(HEADERS, _table_rows(comp))
            + "<p class='muted'>bits / index: fixed-width bits of one cluster index (⌈log2 k⌉, plus one symbol for "
              "filler zeros in sparse tensors); bits / gap: the relative column index width b; closed form: "
              "n·b / (k·b + n·log2 k) for a dense shared tensor with b = 32.</p>")
    return section("Compression", "".join(parts), "compression") if parts else None


def _hist_figure(hist: dict[str, Any], title: str) -> str:
    names = list(hist["layers"])[:MAX_PANELS]
    cols = min(len(names), 4)
    nrows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(3.3 * cols, 2.4 * nrows), squeeze=False)
    for ax, name in zip(axes.ravel(), names):
        h = hist["layers"][name]
        edges = np.asarray(h["edges"])
        ax.stairs(h["before"], edges, fill=True, color="#bbbbbb", label="before")
        ax.stairs(h["after"], edges, fill=True, alpha=0.7, color="#1f77b4", label="after")
        for c in h.get("centroids", [])[:256]:
            ax.axvline(c, color="#d62728", lw=0.4, alpha=0.6)
        ax.set_title(f"{name}: zeros {h['zeros_before']:,}→{h['zeros_after']:,} of {h['numel']:,}", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.locator_params(axis="x", nbins=5)
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(title + (" (red: shared values)" if any("centroids" in hist["layers"][n] for n in names) else ""))
    fig.tight_layout()
    return to_data_uri(fig)


def _trace_figure(trace: list[dict[str, Any]], title: str) -> str:
    fig, ax = plt.subplots(figsize=(4.5, 2.6))
    ax.step([e["step"] for e in trace], [e["sparsity"] for e in trace], where="post", marker="o", ms=3)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("sparsity")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=9)
    return to_data_uri(fig)


@SECTIONS.register("weight-histograms", order=46)
def histograms_section(views: list[StageView]) -> str | None:
    parts = []
    for v in views:
        hist = v.json("weights_hist.json")
        if not hist or not hist.get("layers"):
            continue
        parts.append(f'<h3>{esc(v.name)} ({esc(hist.get("stage", v.verb))})</h3>'
                     f'<img alt="weight histograms of {esc(v.name)}" src="{_hist_figure(hist, v.name)}">')
        trace = (v.json("prune_trace.json") or {}).get("events")
        if trace and len(trace) > 1:
            parts.append(f'<img alt="sparsity schedule" src="{_trace_figure(trace, v.name + ": sparsity schedule")}">')
    if not parts:
        return None
    return section("Weight histograms", "<p class='muted'>Nonzero weights per layer before and after the stage, on "
                   "shared bins; pruned zeros are counted in the titles.</p>" + "".join(parts), "weight-histograms")


@SECTIONS.register("sensitivity", order=47)
def sensitivity_section(views: list[StageView]) -> str | None:
    parts = []
    for v in views:
        res = v.json("sensitivity.json")
        png = v.path / "sensitivity.png"
        if not res or not png.exists():
            continue
        uri = "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()
        parts.append(f"<h3>{esc(v.name)}</h3><p>{esc(res['split'])} {esc(res['metric'])} with one layer pruned at a "
                     f"time (baseline {fmt(res['baseline'])}, n = {fmt(res['n'])}).</p>"
                     f'<img alt="pruning sensitivity" src="{uri}">')
        if res.get("proposals"):
            rows = [[c, f"{p['overall_sparsity']:.1%}",
                     ", ".join(f"{k}: {s:.2f}" for k, s in p["sparsity"].items())] for c, p in res["proposals"].items()]
            parts.append(f"<p>Per-layer sparsities within a drop of {fmt(res['tolerance'])} "
                         f"(recommended: <b>{esc(res.get('recommended'))}</b>):</p>"
                         + table(["criterion", "weights removed", "sparsity per layer"], rows))
    return section("Pruning sensitivity", "".join(parts), "sensitivity") if parts else None
