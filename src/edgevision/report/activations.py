"""Report section: activation histograms per layer on a sample batch, with the "dead ReLU" diagnostic.

Reference doc 001 looked at activation histograms to find dead units: a ReLU unit (channel) whose output is 0 for
every input never passes a gradient and never comes back. For each model-producing stage (``.pt``/``.evz``) this
section runs one batch of the artifact's own validation data (``sample`` images, no augmentation) with forward
hooks on every activation module and reports, per layer,

    dead share = |{c : max_{b, h, w} y[b, c, h, w] ≤ 0}| / C        (flagged when > 50 %)

plus the share of zero (≤ 0) outputs and a histogram of the values (log counts). This is the only report
section that imports model code, as the issue allows; everything else reads run-folder files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .html import SECTIONS, esc, section, table
from .runs import StageView

ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Hardswish, nn.Mish)
DEAD_FLAG = 0.5
MAX_STAGES = 6
MAX_PANELS = 16
SAMPLE = 64
BINS = 40
MODEL_SUFFIXES = (".pt", ".evz")


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


def sample_batch(art: Any, n: int, cache: dict[str, Any]) -> torch.Tensor:
    """``n`` normalized images of the artifact's recorded validation split (test if val is empty)."""
    from ..data import BatchLoader, BatchTransform
    from ..tasks import build_task
    from ..train.evaluate import data_for

    data = art.meta.get("data") or {}
    same = {k: data.get(k) for k in ("source", "options", "seed", "limit", "val_fraction", "test_fraction")}
    key = json.dumps([same, art.preprocess], sort_keys=True, default=str)  # stages of one run share one load
    if key not in cache:
        _, splits = data_for(art, None, build_task(art.task).name)
        ds = splits.val if len(splits.val) else splits.test
        loader = BatchLoader(ds, n, shuffle=False, transform=BatchTransform(splits.mean, splits.std))
        cache[key] = next(b["image"] for b in loader if "image" in b)
    return cache[key]


def stage_stats(views: list[StageView], sample: int = SAMPLE) -> list[tuple[StageView, list[dict] | str]]:
    """(view, rows or the reason it was skipped) for up to :data:`MAX_STAGES` model-producing stages."""
    from ..artifacts import load_artifact
    from ..deploy.onnx import OnnxModule

    out, seen, cache = [], set(), {}
    for v in views:
        name = v.card.get("artifact")
        if not name or Path(name).suffix not in MODEL_SUFFIXES or v.verb in ("export", "unpack"):
            continue
        path = (v.path / name).resolve()
        if path in seen or not path.exists():
            continue
        seen.add(path)
        try:
            art = load_artifact(path)
            if isinstance(art.model, OnnxModule):
                continue
            out.append((v, activation_stats(art.model, sample_batch(art, sample, cache))))
        except Exception as e:  # a stage whose data is gone must not break the whole report
            out.append((v, f"skipped: {str(e).splitlines()[0][:160]}"))
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
    for v, rows in stats:
        if isinstance(rows, str):
            parts.append(f"<h3>{esc(v.name)}</h3><p class='muted'>{esc(rows)}</p>")
            continue
        flagged = [r["layer"] for r in rows if r["dead_frac"] > DEAD_FLAG]
        verdict = (f"<p class='bad'>{len(flagged)} layer(s) with more than 50 % dead units: "
                   f"{esc(', '.join(flagged[:8]))}</p>" if flagged else
                   "<p class='ok'>no layer has more than 50 % dead units</p>")
        parts.append(f"<h3>{esc(v.name)} ({esc(v.verb)})</h3>{verdict}"
                     + (_panels(rows) if rows else "")
                     + f"<details><summary>per-layer table ({len(rows)} layers)</summary>{_table(rows)}</details>")
    note = (f"<p class='muted'>One batch of {SAMPLE} validation images per model. A unit (channel) is dead when its "
            f"output is ≤ 0 for every image and position of the batch; red layers have more than 50 % dead units. "
            f"Counts on a log scale; the dashed line is 0.</p>")
    return section("Activation histograms", note + "".join(parts), "activations")
