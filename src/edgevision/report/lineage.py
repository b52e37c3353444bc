"""Report section: the lineage of the artifacts (teacher → student → pruned → clustered → packed → exported) as an
inline SVG graph, drawn from the cards' ``parent`` links alone.

Nodes are stages; an edge runs from the stage whose artifact a card names as its ``parent`` (or, for ``bench``,
lists in ``artifacts``). Stages that make an artifact sit on the main rows, columns by depth; stages that only
measure one (eval, profile, bench, demo) hang below their artifact with a dashed edge.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from .html import SECTIONS, esc, fmt, headline, section
from .runs import StageView

ROLES = {"train": "trained", "distill": "student", "prune": "pruned", "cluster": "clustered", "pack": "packed",
         "unpack": "unpacked", "export": "exported", "quantize": "quantized", "shrink": "pruned (structured)",
         "lowrank": "low-rank", "search": "searched"}
W, H, GAP_X, GAP_Y = 170, 64, 44, 26


def _keys(path: str | Path) -> set[str]:
    """Ways a card may refer to a file: resolved absolute path, and ``<folder>/<file>``."""
    p = Path(path)
    keys = {"/".join(p.parts[-2:])}
    with contextlib.suppress(OSError):
        keys.add(str(p.resolve()))
    return keys


def _refs(card: dict[str, Any]) -> list[str]:
    refs = [card["parent"]] if isinstance(card.get("parent"), str) else []
    refs += [a for a in card.get("artifacts") or [] if isinstance(a, str)]
    return refs


def build_graph(views: list[StageView]) -> tuple[list[dict[str, Any]], list[tuple[int, int]]]:
    """Nodes (one per stage) and edges (parent index, child index) resolved through artifact paths."""
    index: dict[str, int] = {}
    for i, v in enumerate(views):
        if v.card.get("artifact"):
            for k in _keys(v.path / v.card["artifact"]) | _keys(v.path):
                index.setdefault(k, i)
    edges = []
    for j, v in enumerate(views):
        for ref in _refs(v.card):
            i = next((index[k] for k in _keys(ref) if k in index), None)
            if i is not None and i != j:
                edges.append((i, j))
    teachers = {i for i, j in edges if views[j].verb == "distill"}
    nodes = []
    for i, v in enumerate(views):
        role = "teacher" if i in teachers else ROLES.get(v.verb, v.verb)
        name, val = headline(v.card)
        nodes.append({"name": v.name, "verb": v.verb, "role": role, "makes": bool(v.card.get("artifact")),
                      "bytes": v.card.get("file_bytes"), "metric": f"{name} {fmt(val, 3)}" if name else "",
                      "model": (v.card.get("model") or {}).get("name", "")})
    return nodes, edges


def _layout(nodes: list[dict[str, Any]], edges: list[tuple[int, int]]) -> dict[int, tuple[int, int]]:
    """Column = depth along artifact edges; measuring stages go under their first parent."""
    parents: dict[int, list[int]] = {}
    for i, j in edges:
        parents.setdefault(j, []).append(i)
    depth: dict[int, int] = {}

    def d(n: int, seen: frozenset[int] = frozenset()) -> int:
        if n not in depth:
            ps = [p for p in parents.get(n, []) if nodes[p]["makes"] and p not in seen]
            depth[n] = 1 + max((d(p, seen | {n}) for p in ps), default=-1)
        return depth[n]

    pos, used = {}, {}
    for n in sorted(range(len(nodes)), key=lambda n: (not nodes[n]["makes"], n)):
        col = d(n) if nodes[n]["makes"] else max(d(n) - 1, 0)
        row = used.get(col, 0)
        used[col] = row + 1
        pos[n] = (col, row)
    return pos


def longest_chain(nodes: list[dict[str, Any]], edges: list[tuple[int, int]]) -> list[int]:
    """The deepest artifact and its ancestors, root first (the headline "teacher → student → ..." line)."""
    pos = _layout(nodes, edges)
    makes = [n for n in pos if nodes[n]["makes"]]
    if not makes:
        return []
    chain = [max(makes, key=lambda n: (pos[n][0], -n))]
    parent = {j: i for i, j in reversed(edges) if nodes[i]["makes"]}  # first artifact parent of each node
    while chain[-1] in parent and parent[chain[-1]] not in chain:
        chain.append(parent[chain[-1]])
    return chain[::-1]


def lineage_svg(nodes: list[dict[str, Any]], edges: list[tuple[int, int]]) -> str:
    """An inline SVG: boxes (stage, role, model, size, metric) and arrows; no script, no external resources."""
    pos = _layout(nodes, edges)
    cols = 1 + max(c for c, _ in pos.values())
    rows = 1 + max(r for _, r in pos.values())
    width, height = cols * (W + GAP_X) + 10, rows * (H + GAP_Y) + 10

    def xy(n: int) -> tuple[int, int]:
        c, r = pos[n]
        return 5 + c * (W + GAP_X), 5 + r * (H + GAP_Y)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} '
             f'{height}" font-family="system-ui,sans-serif" font-size="11" role="img" aria-label="artifact lineage">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
             'orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="#555"/></marker></defs>']
    for i, j in edges:
        (x1, y1), (x2, y2) = xy(i), xy(j)
        dash = "" if nodes[j]["makes"] else ' stroke-dasharray="4 3"'
        a, b = (x1 + W, y1 + H // 2), (x2, y2 + H // 2)
        if x2 <= x1:  # a measuring stage in the same column: connect bottom to top
            a, b = (x1 + W // 2, y1 + H), (x2 + W // 2, y2)
        parts.append(f'<line x1="{a[0]}" y1="{a[1]}" x2="{b[0]}" y2="{b[1]}" stroke="#555" stroke-width="1.3"'
                     f'{dash} marker-end="url(#arrow)"/>')
    for n, node in enumerate(nodes):
        x, y = xy(n)
        fill = "#eaf2fb" if node["makes"] else "#f4f4f4"
        size = f"{node['bytes'] / 1024:.1f} KB" if isinstance(node["bytes"], int) else ""
        lines = [f"{node['name']} · {node['role']}", " ".join(s for s in (node["model"], size) if s), node["metric"]]
        parts.append(f'<g><title>{esc(node["name"])} ({esc(node["verb"])})</title><rect x="{x}" y="{y}" width="{W}" '
                     f'height="{H}" rx="7" fill="{fill}" stroke="#7a8da3"/>')
        for k, text in enumerate(lines):
            weight = ' font-weight="bold"' if k == 0 else ""
            parts.append(f'<text x="{x + 8}" y="{y + 18 + 17 * k}"{weight}>{esc(text[:30])}</text>')
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


@SECTIONS.register("lineage", order=12)
def lineage_section(views: list[StageView]) -> str | None:
    if not views:
        return None
    nodes, edges = build_graph(views)
    chain = " → ".join(nodes[n]["role"] for n in longest_chain(nodes, edges))
    return section("Lineage", f"<p>{esc(chain)}</p><div style='overflow-x:auto'>{lineage_svg(nodes, edges)}</div>"
                   "<p class='muted'>Blue: stages that made an artifact (size, headline metric); grey, dashed: "
                   "stages that measured one. The full cards are at the end of the report.</p>", "lineage")
