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

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from .html import SECTIONS, esc, section, table
from .plots import to_data_uri
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

    key = json.dumps([art.meta.get("data"), art.preprocess], sort_keys=True, default=str)
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


def _figure(rows: list[dict[str, Any]], title: str) -> str:
    rows = rows[:MAX_PANELS]
    cols = min(4, len(rows))
    nrows = (len(rows) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(3.2 * cols, 2.1 * nrows), squeeze=False)
    for ax, r in zip(axes.ravel(), rows):
        bad = r["dead_frac"] > DEAD_FLAG
        ax.stairs(np.maximum(r["counts"], 0.8), r["edges"], fill=True, color="#d62728" if bad else "#1f77b4")
        ax.set_yscale("log")
        ax.set_title(f"{r['layer'][-28:]}\ndead {r['dead']}/{r['units']}, zero {r['zero_frac']:.0%}", fontsize=7,
                     color="#b00020" if bad else "black")
        ax.tick_params(labelsize=6)
    for ax in axes.ravel()[len(rows):]:
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return to_data_uri(fig)


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
                     + (f'<img alt="activation histograms of {esc(v.name)}" src="{_figure(rows, v.name)}">'
                        if rows else "")
                     + f"<details><summary>per-layer table ({len(rows)} layers)</summary>{_table(rows)}</details>")
    note = (f"<p class='muted'>One batch of {SAMPLE} validation images per model. A unit (channel) is dead when its "
            f"output is ≤ 0 for every image and position of the batch; red layers have more than 50 % dead units. "
            f"Counts on a log scale.</p>")
    return section("Activation histograms", note + "".join(parts), "activations")
