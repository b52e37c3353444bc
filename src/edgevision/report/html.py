"""``edgevision report``: one self-contained HTML file (inline CSS and PNG, no scripts, no network).

Sections are registered in :data:`SECTIONS` in display order; each renders a list of stages to an HTML
fragment (or nothing). Later stages add their own sections (compression tables, histograms, bench, Pareto).
"""

from __future__ import annotations

import datetime as _dt
import html
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._version import __version__
from ..configs.report import ReportConfig
from ..registry import Registry
from ..stages import StageResult, run_stage, stage
from ..utils.io import write_text
from . import plots
from .runs import StageView, collect

Section = Callable[[list[StageView]], str | None]
SECTIONS: Registry = Registry("report section", builtins=("edgevision.report",), plural="sections")

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222;
     padding:0 1rem}
h1{margin-bottom:.2rem} h2{border-bottom:2px solid #eee;padding-bottom:.3rem;margin-top:2.2rem}
table{border-collapse:collapse;font-size:.9rem;margin:.6rem 0} th,td{border:1px solid #ddd;padding:.3rem .55rem;
text-align:right} th{background:#f6f6f6} td:first-child,th:first-child{text-align:left}
.muted{color:#777;font-size:.85rem} img{max-width:100%} details{margin:.4rem 0} pre{background:#f8f8f8;
padding:.6rem;overflow:auto;font-size:.8rem} .ok{color:#197a2b} .bad{color:#b00020}
"""


def esc(x: Any) -> str:
    return html.escape(str(x))


def fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:.{digits}g}" if abs(v) < 1e5 else f"{v:,.0f}"
    return esc(v)


def table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{fmt(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def section(title: str, body: str, anchor: str) -> str:
    return f'<section id="{esc(anchor)}"><h2>{esc(title)}</h2>{body}</section>'


def headline(card: dict[str, Any]) -> tuple[str, Any]:
    """The most telling metric of a card: test primary metric if present."""
    m = card.get("metrics") or {}
    for split in ("test", "val"):
        sub = m.get(split)
        if isinstance(sub, dict):
            for key in ("top1", "miou", "ap50", "map", "iou", "f1_at_0.5", "loss"):
                if key in sub:
                    return f"{split} {key}", sub[key]
    return "", None


@SECTIONS.register("summary", order=10)
def summary_section(views: list[StageView]) -> str:
    rows = []
    for v in views:
        c = v.card
        name, val = headline(c)
        lat = c.get("latency") or {}
        lat_ms = lat.get("p50_ms") if "p50_ms" in lat else (lat.get("torch") or {}).get("p50_ms")
        rows.append([v.name, v.verb, (c.get("model") or {}).get("name"), c.get("params"), c.get("macs"),
                     c.get("file_bytes"), f"{name} {fmt(val)}" if name else "–", lat_ms])
    return section("Stages", table(["stage", "verb", "model", "params", "MACs", "file bytes", "metric",
                                    "torch b1 p50 ms"], rows), "summary")


@SECTIONS.register("curves", order=20)
def curves_section(views: list[StageView]) -> str | None:
    imgs = []
    for v in views:
        keys = {k for r in v.history for k in r}
        primary = next((k for k in ("top1", "miou", "map", "ap50", "iou") if {f"val_{k}", f"train_{k}"} & keys),
                       "loss")
        uri = plots.training_curves(v.history, primary, v.name)
        if uri:
            imgs.append(f'<img alt="training curves of {esc(v.name)}" src="{uri}">')
    return section("Training curves", "".join(imgs), "curves") if imgs else None


@SECTIONS.register("evaluation", order=30)
def eval_section(views: list[StageView]) -> str | None:
    parts = []
    for v in views:
        ev = v.json("eval.json")
        if not ev or "confusion" not in ev:
            continue
        rows = [[n, p, r, f] for n, p, r, f in zip(ev["class_names"], ev["per_class"]["precision"],
                                                  ev["per_class"]["recall"], ev["per_class"]["f1"])]
        cm = plots.confusion(ev["confusion"], ev["class_names"], v.name)
        parts.append(f"<h3>{esc(v.name)}</h3><p>top-1 {fmt(ev.get('top1'))}, top-5 {fmt(ev.get('top5'))}, "
                     f"macro F1 {fmt(ev.get('macro_f1'))}, n = {fmt(ev.get('n'))}</p>"
                     + table(["class", "precision", "recall", "F1"], rows)
                     + f'<img alt="confusion matrix" src="{cm}">')
    return section("Evaluation", "".join(parts), "evaluation") if parts else None


@SECTIONS.register("profile", order=60)
def profile_section(views: list[StageView]) -> str | None:
    rows = []
    for v in views:
        p = v.json("profile.json")
        if not p:
            continue
        for eng, lat in p["latency"].items():
            rows.append([v.name, p["model"], "x".join(map(str, p["input_shape"])), eng, p["threads"], lat["p50_ms"],
                         lat["p90_ms"], p["throughput"][eng]["images_per_s"], p["macs"], p["params"],
                         p.get("peak_rss_mb")])
    if not rows:
        return None
    return section("Profile", table(["stage", "model", "input", "engine", "threads", "p50 ms", "p90 ms", "img/s",
                                     "MACs", "params", "peak RSS MB"], rows), "profile")


@SECTIONS.register("cards", order=100)
def cards_section(views: list[StageView]) -> str:
    body = "".join(f"<details><summary>{esc(v.name)} ({esc(v.verb)})</summary><pre>"
                   f"{esc(json.dumps(v.card, indent=2))}</pre></details>" for v in views)
    return section("Cards", body, "cards")


def render(views: list[StageView], title: str) -> str:
    parts = [s.obj(views) for s in sorted(SECTIONS, key=lambda e: e.meta.get("order", 50))]
    stamp = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{esc(title)}</title>"
            f"<style>{CSS}</style></head><body><h1>{esc(title)}</h1>"
            f"<p class='muted'>edgevision {__version__} · generated {stamp} · {len(views)} stages</p>"
            + "".join(p for p in parts if p) + "</body></html>")




@stage("report", ReportConfig, summary="one self-contained HTML report of run folders")
def run_report(cfg: ReportConfig, out: Path) -> StageResult:
    views = collect(cfg.runs)
    title = cfg.title or f"edgevision report: {', '.join(Path(r).name for r in cfg.runs)}"
    path = out if out.suffix == ".html" else out / "report.html"
    write_text(path, render(views, title))
    return StageResult(path.parent, path, {"stage": "report", "artifact": path.name, "stages": len(views)})


def report(runs: list[str | Path] | str | Path, out: str | Path | None = None, **options: Any) -> StageResult:
    """Write ``report.html`` for run folders (default: into the first run folder)."""
    runs = [runs] if isinstance(runs, str | Path) else list(runs)
    target = Path(out) if out else Path(runs[0]) / "report.html"
    return run_stage("report", {"runs": [str(r) for r in runs], **options}, target)
