"""Report section: activation histograms per layer, with the "dead ReLU" diagnostic (OpenCV GSoC 2017).

Draws the ``activations.json`` that every model-producing stage and ``eval`` write
(:mod:`edgevision.train.activations`): per layer, the share of dead units (``max ≤ 0`` over the batch; flagged when
> 50 %), the share of outputs ≤ 0, and a histogram of the values (log counts). Like every section, it only reads
run-folder files.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .html import SECTIONS, esc, section, table
from .runs import StageView

DEAD_FLAG = 0.5
MAX_STAGES = 6
MAX_PANELS = 16


def stage_stats(views: list[StageView]) -> list[tuple[StageView, dict[str, Any]]]:
    """(view, its ``activations.json``) for up to :data:`MAX_STAGES` stages that wrote one, one per artifact."""
    out, seen = [], set()
    for v in views:
        stats = v.json("activations.json")
        key = (v.path / str(v.card.get("artifact"))).resolve()
        if not stats or key in seen:
            continue
        seen.add(key)
        out.append((v, stats))
        if len(out) >= MAX_STAGES:
            break
    return out


def _svg_hist(r: dict[str, Any], w: int = 176, h: int = 92) -> str:
    """One layer's histogram as a small inline SVG (log₁₀(1 + count) bars; red when the layer is flagged)."""
    counts = np.log10(1 + np.asarray(r["counts"], float))
    top = counts.max() or 1.0
    x0, y0, pw, ph = 4, 30, w - 8, h - 44  # plot box below a two-line title
    bw = pw / len(counts)
    bad = r["dead_frac"] > DEAD_FLAG
    col = "#d62728" if bad else "#1f77b4"
    bars = "".join(f'<rect x="{x0 + i * bw:.1f}" y="{y0 + ph * (1 - c / top):.1f}" width="{max(bw - 0.4, 0.5):.1f}" '
                   f'height="{ph * c / top:.1f}"/>' for i, c in enumerate(counts) if c > 0)
    lo, hi = r["edges"][0], r["edges"][-1]
    zero = "" if not lo < 0 < hi else (f'<line x1="{x0 + pw * (-lo) / (hi - lo):.1f}" y1="{y0}" '
                                       f'x2="{x0 + pw * (-lo) / (hi - lo):.1f}" y2="{y0 + ph}" stroke="#999" '
                                       f'stroke-dasharray="2 2"/>')
    tcol = "#b00020" if bad else "#222"
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" '
            f'font-size="9"><title>{esc(r["layer"])}</title>'
            f'<text x="{x0}" y="10" fill="{tcol}" font-weight="bold">{esc(r["layer"][-30:])}</text>'
            f'<text x="{x0}" y="22" fill="{tcol}">dead {r["dead"]}/{r["units"]} · ≤0 {r["zero_frac"]:.0%}</text>'
            f'<rect x="{x0}" y="{y0}" width="{pw}" height="{ph}" fill="#fafafa" stroke="#ddd"/>'
            f'<g fill="{col}">{bars}</g>{zero}'
            f'<text x="{x0}" y="{h - 3}" fill="#666">{lo:.3g}</text>'
            f'<text x="{w - 4}" y="{h - 3}" fill="#666" text-anchor="end">{hi:.3g}</text></svg>')


def _panels(rows: list[dict[str, Any]]) -> str:
    """Small multiples: the first :data:`MAX_PANELS` layers, flagged layers always included."""
    shown = rows[:MAX_PANELS] + [r for r in rows[MAX_PANELS:] if r["dead_frac"] > DEAD_FLAG]
    return "<div style='display:flex;flex-wrap:wrap;gap:4px'>" + "".join(_svg_hist(r) for r in shown) + "</div>"


def _table(rows: list[dict[str, Any]]) -> str:
    body = [[r["layer"], r["kind"], r["units"], r["dead"], f"{r['dead_frac']:.0%}", f"{r['zero_frac']:.0%}",
             round(r["mean"], 4), round(r["std"], 4), "DEAD > 50 %" if r["dead_frac"] > DEAD_FLAG else ""]
            for r in rows]
    return table(["layer", "kind", "units", "dead units", "dead share", "outputs ≤ 0", "mean", "std", "flag"], body)


@SECTIONS.register("activations", order=48)
def activations_section(views: list[StageView]) -> str | None:
    stats = stage_stats(views)
    if not stats:
        return None
    parts = []
    for v, stat in stats:
        rows = stat["layers"]
        flagged = [r["layer"] for r in rows if r["dead_frac"] > DEAD_FLAG]
        verdict = (f"<p class='bad'>{len(flagged)} layer(s) with more than 50 % dead units: "
                   f"{esc(', '.join(flagged[:8]))}</p>" if flagged else
                   "<p class='ok'>no layer has more than 50 % dead units</p>")
        parts.append(f"<h3>{esc(v.name)} ({esc(v.verb)})</h3>{verdict}"
                     + (_panels(rows) if rows else "")
                     + f"<details><summary>per-layer table ({len(rows)} layers)</summary>{_table(rows)}</details>")
    n = stats[0][1].get("sample", "")
    note = (f"<p class='muted'>One batch of {n} validation images per model. A unit (channel) is dead when its "
            f"output is ≤ 0 for every image and position of the batch; red layers have more than 50 % dead units. "
            f"Counts on a log scale; the dashed line is 0.</p>")
    return section("Activation histograms", note + "".join(parts), "activations")
