"""Report section: teacher vs distilled student on held-out data (reads ``distill.json``; imports no models)."""

from __future__ import annotations

from .html import SECTIONS, esc, fmt, section, table
from .runs import StageView

KEYS = ("top1", "f1_at_0.5", "roc_auc")


@SECTIONS.register("distillation", order=40)
def distillation_section(views: list[StageView]) -> str | None:
    parts = []
    for v in views:
        d = v.json("distill.json")
        if not d or "teacher" not in d or "student" not in d:
            continue
        rows = []
        for role in ("teacher", "student"):
            r, test = d[role], d[role].get("test") or {}
            rows.append([role, r.get("name"), r.get("size_bytes"), r.get("ms_per_image"),
                         *(test.get(k) for k in KEYS)])
        kd = d.get("kd") or {}
        note = (f"T = {fmt(kd.get('temperature'))}, α = {fmt(kd.get('alpha'))}, objective {esc(kd.get('objective'))}, "
                f"{esc((d.get('source') or {}).get('mode', ''))} teacher; distillation score DS = "
                f"{fmt(d.get('distillation_score'))} (0.5·size ratio + 0.5·(1 − accuracy ratio); < 0: the student is "
                f"smaller and more accurate)")
        parts.append(f"<h3>{esc(v.name)}</h3>" + table(["", "model", "fp32 bytes", "ms / image", "test top-1",
                                                        "F1 @ 0.5", "ROC-AUC"], rows)
                     + f"<p class='muted'>{note}; latency at batch 1, {fmt(d['student'].get('threads'))} thread(s)</p>")
    return section("Distillation (held-out test split)", "".join(parts), "distillation") if parts else None
