"""Report sections drawn from files the ``eval`` and ``demo`` stages leave behind:

- *Gallery*: ``gallery.json`` + ``gallery/*.png`` of each eval — sample predictions with the task's overlay
  (ground truth in green) and the worst mistakes by the task's per-sample error; images are inlined as PNG data;
- *Live demo*: the summary a ``demo`` stage wrote (mean fps, per-stage p50/p90, engine, threads).
"""

from __future__ import annotations

import base64

from .html import SECTIONS, esc, fmt, section, table
from .runs import StageView

CSS = ("<style>.gallery{display:flex;flex-wrap:wrap;gap:.6rem}.gallery figure{margin:0;width:180px;font-size:.72rem;"
       "color:#444}.gallery img{width:180px;image-rendering:pixelated;border:1px solid #ddd}</style>")


def _figures(v: StageView, items: list[dict]) -> str:
    out = []
    for it in items:
        p = v.path / it["file"]
        if not p.is_file():
            continue
        uri = "data:image/png;base64," + base64.b64encode(p.read_bytes()).decode()
        out.append(f'<figure><img alt="{esc(it["caption"])}" src="{uri}"><figcaption>{esc(it["caption"])}'
                   f"</figcaption></figure>")
    return f"<div class='gallery'>{''.join(out)}</div>"


@SECTIONS.register("gallery", order=35)
def gallery_section(views: list[StageView]) -> str | None:
    parts = []
    for v in views:
        g = v.json("gallery.json")
        if not g or not g.get("samples"):
            continue
        parts.append(f"<h3>{esc(v.name)}</h3><p>Sample predictions ({esc(g['task'])}; ground truth in green):</p>"
                     + _figures(v, g["samples"]))
        if g.get("worst"):
            parts.append(f"<p>Worst mistakes by {esc(g.get('error', 'error'))}:</p>" + _figures(v, g["worst"]))
        elif g.get("ranked"):
            parts.append("<p class='ok'>No mistakes to show: every evaluated sample has zero error.</p>")
    return section("Gallery", CSS + "".join(parts), "gallery") if parts else None


@SECTIONS.register("demo", order=66)
def demo_section(views: list[StageView]) -> str | None:
    parts = []
    for v in views:
        if v.verb != "demo":
            continue
        s = v.card.get("metrics") or {}
        rows = [[k, x["mean_ms"], x["p50_ms"], x["p90_ms"]] for k, x in (s.get("stages") or {}).items()]
        parts.append(f"<h3>{esc(v.name)}</h3><p>{fmt(s.get('frames'))} frames of {esc(s.get('source'))}: mean "
                     f"<b>{fmt(s.get('mean_fps'), 3)} fps</b> on {esc(s.get('engine'))} with {fmt(s.get('threads'))} "
                     f"thread(s); {fmt(s.get('dropped'))} dropped.</p>"
                     + table(["stage", "mean ms", "p50 ms", "p90 ms"], rows))
    return section("Live demo", "".join(parts), "demo") if parts else None
