"""Report section: accuracy against size and against latency across the artifacts of the runs, with the Pareto
front (no other artifact is both at least as accurate and at least as small / fast, and better in one).

Points come from run-folder files only: each model-producing card (file size, its test metric — or that of an
``eval`` of it — and its batch-1 torch latency), and every row of a ``bench.json`` (file size, accuracy and
latency measured together in one run, per engine and precision). The latency plot prefers bench rows, whose
timings are comparable; cards' quick latencies are used when there is no bench.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from .html import SECTIONS, esc, section, table
from .lineage import _keys
from .plots import to_data_uri
from .runs import StageView

METRICS = ("top1", "miou", "ap50", "map", "iou")


def pareto_front(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mask of points not dominated when x is minimized and y maximized (ties keep both)."""
    le_x = x[None, :] <= x[:, None]  # [i, j]: j is at most as large as i
    ge_y = y[None, :] >= y[:, None]
    strictly = (x[None, :] < x[:, None]) | (y[None, :] > y[:, None])
    return ~(le_x & ge_y & strictly).any(1)


def _metric(card: dict[str, Any]) -> tuple[str, float] | None:
    m = (card.get("metrics") or {}).get("test")
    if isinstance(m, dict):
        for k in METRICS:
            if isinstance(m.get(k), int | float):
                return k, float(m[k])
    return None


def collect_points(views: list[StageView]) -> list[dict[str, Any]]:
    """Points {label, source, metric, accuracy, bytes, ms} from cards (artifacts) and bench rows."""
    evals: dict[str, tuple[str, float]] = {}
    for v in views:
        if v.verb == "eval" and (m := _metric(v.card)) and isinstance(v.card.get("parent"), str):
            for k in _keys(v.card["parent"]):
                evals[k] = m
    pts = []
    for v in views:
        art = v.card.get("artifact")
        if not art or not isinstance(v.card.get("file_bytes"), int):
            continue
        path = v.path / art
        m = next((evals[k] for k in _keys(path) if k in evals), None) or _metric(v.card)
        if m is None:
            continue
        lat = (v.card.get("latency") or {}).get("p50_ms")
        pts.append({"label": f"{v.name} ({Path(art).suffix[1:]})", "source": "card", "metric": m[0],
                    "accuracy": m[1], "bytes": v.card["file_bytes"], "ms": lat})
    for v in views:
        for r in (v.json("bench.json") or {}).get("rows", []):
            if r.get("accuracy") is not None and "p50_ms" in r and r.get("metric"):
                pts.append({"label": f"{r['label']} {r['engine']} {r['precision']} {r['threads']}t",
                            "source": "bench", "metric": str(r["metric"]).removeprefix("test "),
                            "accuracy": float(r["accuracy"]), "bytes": r["file_bytes"], "ms": r["p50_ms"]})
    return pts


def _panel(ax: plt.Axes, pts: list[dict[str, Any]], key: str, xlabel: str, metric: str) -> None:
    x = np.array([p[key] for p in pts], float)
    y = np.array([p["accuracy"] for p in pts], float)
    on = pareto_front(x, y)
    ax.scatter(x[~on], y[~on], s=26, c="#9aa5b1", label="dominated")
    order = np.argsort(x[on])
    ax.step(x[on][order], y[on][order], where="post", c="#c0392b", lw=1.2)
    ax.scatter(x[on], y[on], s=40, c="#c0392b", label="Pareto front", zorder=3)
    for p, xi, yi in zip(pts, x, y):
        ax.annotate(p["label"][:26], (xi, yi), fontsize=6.5, xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"test {metric}")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)


def pareto_figure(size_pts: list[dict[str, Any]], lat_pts: list[dict[str, Any]], metric: str) -> str:
    panels = [(size_pts, "bytes", "file size (bytes, log)"), (lat_pts, "ms", "batch-1 latency p50 (ms, log)")]
    panels = [p for p in panels if p[0]]
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.2), squeeze=False)
    for ax, (pts, key, label) in zip(axes[0], panels):
        _panel(ax, pts, key, label, metric)
    fig.tight_layout()
    return to_data_uri(fig)


@SECTIONS.register("pareto", order=64)
def pareto_section(views: list[StageView]) -> str | None:
    pts = collect_points(views)
    if not pts:
        return None
    metric = max({p["metric"] for p in pts}, key=lambda m: sum(p["metric"] == m for p in pts))
    pts = [p for p in pts if p["metric"] == metric]  # one accuracy scale per plot
    size_pts = list({(p["bytes"], p["accuracy"]): p for p in reversed(pts) if p["bytes"]}.values())[::-1]  # a
    # file benched on several engines is one point of the size plot (the first label names it)
    bench = [p for p in pts if p["source"] == "bench"]
    lat_pts = bench or [p for p in pts if isinstance(p["ms"], int | float)]
    if len(size_pts) < 2 and len(lat_pts) < 2:
        return None
    rows = [[p["label"], p["source"], p["accuracy"], p["bytes"], p["ms"]] for p in pts]
    note = ("latency from the bench (one run, comparable)" if bench else
            "latency from the cards' quick torch measurements (not measured together: compare with care)")
    return section("Pareto: accuracy vs size and latency",
                   f'<img alt="Pareto plots" src="{pareto_figure(size_pts, lat_pts, metric)}">'
                   f"<p class='muted'>test {esc(metric)}; {esc(note)}. Red: the Pareto front.</p>"
                   f"<details><summary>points ({len(pts)})</summary>"
                   + table(["artifact", "from", f"test {metric}", "bytes", "p50 ms"], rows) + "</details>",
                   "pareto")
