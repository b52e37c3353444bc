"""Report sections for speed: the bench table, and the verdicts of the compression stages.

Reads run-folder files only (``bench.json``, ``quantize.json``, ``shrink.json``, ``lowrank.json``).
"""

from __future__ import annotations

from typing import Any

from .html import SECTIONS, esc, fmt, section, table
from .runs import StageView

BENCH_HEADERS = ["artifact", "engine", "precision", "threads", "metric", "KB", "params", "MACs", "p50 ms",
                 "p90 ms", "img/s", "GMAC/s", "% peak", "× first", "× fp32"]


def _bench_row(r: dict[str, Any]) -> list[Any]:
    acc = f"{r['metric']} {fmt(r['accuracy'])}" if r.get("accuracy") is not None else "–"
    base = [r["label"], r["engine"], r["precision"], r["threads"], acc, round(r["file_bytes"] / 1024, 1),
            r["params"], r["macs"]]
    if "error" in r:
        return [*base, f"error: {r['error'][:80]}", *[None] * 6]
    frac = f"{100 * r['peak_fraction_b1']:.2f} %" if "peak_fraction_b1" in r else None
    return [*base, r["p50_ms"], r["p90_ms"], r["img_s"], r["gmacs_b1"], frac, r.get("vs_first"), r.get("vs_fp32")]


@SECTIONS.register("bench", order=62)
def bench_section(views: list[StageView]) -> str | None:
    parts = []
    for v in views:
        b = v.json("bench.json")
        if not b or not b.get("rows"):
            continue
        peaks = "; ".join(f"{k} thread(s): fp32 {p['fp32']} GMAC/s, int8 {p['int8']} GMAC/s"
                          for k, p in (b.get("peak_gmacs") or {}).items() if p)
        m = b.get("machine") or {}
        says = "".join(f"<li>{esc(x)}</li>" for x in b.get("verdicts") or [])
        parts.append(f"<h3>{esc(v.name)}</h3>" + table(BENCH_HEADERS, [_bench_row(r) for r in b["rows"]])
                     + (f"<ul>{says}</ul>" if says else "")
                     + f"<p class='muted'>batch 1 latency (pooled median of {b.get('rounds')} interleaved rounds); "
                     f"throughput at batch {b.get('batch')}; GMAC/s and % of peak at batch 1; peak measured in the "
                     f"same run with a large GEMM: {esc(peaks) or '–'}. Machine: {esc(m.get('cpu'))}, "
                     f"{esc(m.get('cores'))} cores, {esc(m.get('isa'))}.</p>")
    return section("Bench", "".join(parts), "bench") if parts else None


@SECTIONS.register("structured", order=58)
def structured_section(views: list[StageView]) -> str | None:
    parts = []
    for v in views:
        q, s, lr = v.json("quantize.json"), v.json("shrink.json"), v.json("lowrank.json")
        if q and q.get("verdict"):
            parts.append(f"<p><b>{esc(v.name)}</b>: {esc(q['verdict'])}</p>")
        if s and s.get("groups"):
            rows = [[g["group"], g["before"], g["after"]] for g in s["groups"]]
            parts.append(f"<h3>{esc(v.name)}: structured pruning</h3><p>MACs {fmt(s['macs_before'])} → "
                         f"{fmt(s['macs_after'])} ({100 * s['macs_reduction']:.1f} % removed), params "
                         f"{fmt(s['params_before'])} → {fmt(s['params_after'])}</p>"
                         + table(["channel group", "before", "after"], rows))
        if lr and lr.get("layers"):
            rows = [[x["layer"], x["kind"], x.get("rank"), x["macs_before"], x["macs_after"]] for x in lr["layers"]]
            parts.append(f"<h3>{esc(v.name)}: low-rank factorization</h3>"
                         + table(["layer", "replacement", "rank", "MACs before", "MACs after"], rows))
    return section("Speed-oriented compression", "".join(parts), "structured") if parts else None
