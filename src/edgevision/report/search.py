"""Report section of the hyper-parameter search, drawn from ``trials.json`` alone: a Pareto plot (several
objectives) or an optimization history (one), the per-epoch curves of every trial (pruned ones dashed), the
parameter importances and a table of trials."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from .html import SECTIONS, esc, fmt, section, table
from .plots import to_data_uri
from .runs import StageView


def pareto_plot(doc: dict[str, Any]) -> str:
    """First two objectives of every complete trial; the Pareto front highlighted and joined as a staircase."""
    obj = doc["objectives"]
    done = [t for t in doc["trials"] if t["state"] == "complete" and t["values"]]
    front = set(doc.get("front") or [])
    fig, ax = plt.subplots(figsize=(7, 4.2))
    xs = np.array([t["values"][1] for t in done])
    ys = np.array([t["values"][0] for t in done])
    on = np.array([t["number"] in front for t in done], bool)
    ax.scatter(xs[~on], ys[~on], s=22, c="#9aa5b1", label="trial")
    order = np.argsort(xs[on])
    ax.step(xs[on][order], ys[on][order], where="post", c="#c0392b", lw=1.2)
    ax.scatter(xs[on], ys[on], s=40, c="#c0392b", label="Pareto front", zorder=3)
    for t in done:
        if t["number"] in front:
            ax.annotate(str(t["number"]), (t["values"][1], t["values"][0]), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
    ax.set_xlabel(f"{obj[1]['name']} ({obj[1]['direction']})")
    ax.set_ylabel(f"{obj[0]['name']} ({obj[0]['direction']})")
    if obj[1].get("latency") or "ms" in obj[1]["name"]:
        ax.set_xscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(f"{doc['study']}: {len(done)} complete trials, {len(front)} on the front")
    return to_data_uri(fig)


def history_plot(doc: dict[str, Any]) -> str:
    """Objective per trial with the best-so-far line, and the per-epoch curves (pruned trials dashed)."""
    o = doc["objectives"][0]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
    sign = 1 if o["direction"] == "maximize" else -1
    best, bx, by = None, [], []
    for t in doc["trials"]:
        if t["state"] != "complete" or not t["values"]:
            continue
        v = t["values"][0]
        a1.scatter(t["number"], v, s=18, c="#34495e")
        best = v if best is None or sign * v > sign * best else best
        bx.append(t["number"])
        by.append(best)
    a1.step(bx, by, where="post", c="#c0392b", label="best so far")
    a1.set_xlabel("trial")
    a1.set_ylabel(o["name"])
    a1.grid(alpha=0.3)
    a1.legend()
    for t in doc["trials"]:
        if t.get("curve"):
            style = "--" if t["state"] == "pruned" else "-"
            a2.plot(range(1, len(t["curve"]) + 1), t["curve"], style, lw=0.9, alpha=0.8)
    a2.set_xlabel("epoch")
    a2.set_ylabel(o["name"])
    a2.set_title("per-epoch values (dashed: pruned)")
    a2.grid(alpha=0.3)
    return to_data_uri(fig)


def _short(path: str) -> str:
    return path.rsplit(".", 1)[-1] if path.startswith("stages.") else path


def _trials_table(doc: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    names = list(doc["params"])
    heads = ["trial", "state"] + [o["name"] for o in doc["objectives"]] + [_short(n) for n in names] + ["s"]
    body = []
    for t in rows:
        vals = t["values"] or [None] * len(doc["objectives"])
        state = t["state"] + (f" @{t['pruned_after_epoch']}" if t.get("pruned_after_epoch") else "")
        body.append([t["number"], state, *vals, *[t["params"].get(n, "–") for n in names], t.get("seconds")])
    return table(heads, body)


@SECTIONS.register("search", order=70)
def search_section(views: list[StageView]) -> str | None:
    parts = []
    for v in views:
        doc = v.json("trials.json")
        if not doc or "trials" not in doc:
            continue
        c = doc["counts"]
        parts.append(f"<h3>{esc(v.name)}: study {esc(doc['study'])}</h3><p>{c['trials']} trials ({c['complete']} "
                     f"complete, {c['pruned']} pruned, {c['fail']} failed; target {doc['target_trials']}), sampler "
                     f"{esc(doc['sampler'])}, pruner {esc(doc['pruner'])}, storage <code>{esc(doc['storage'])}</code>"
                     "</p>")
        multi = len(doc["objectives"]) > 1
        if any(t["state"] == "complete" for t in doc["trials"]):
            plot = pareto_plot(doc) if multi else history_plot(doc)
            parts.append(f'<img alt="search results" src="{plot}">')
        front = [t for t in doc["trials"] if t["number"] in set(doc.get("front") or [])]
        if front:
            parts.append(f"<p>{'Pareto front' if multi else 'Best trial'}:</p>" + _trials_table(doc, front))
        for i, imp in enumerate(doc.get("importances") or []):
            parts.append(f"<p>parameter importance (fANOVA) for {esc(doc['objectives'][i]['name'])}: "
                         + ", ".join(f"{esc(_short(k))} {fmt(val, 2)}" for k, val in imp.items()) + "</p>")
        parts.append("<details><summary>all trials</summary>" + _trials_table(doc, doc["trials"]) + "</details>")
    return section("Hyper-parameter search", "".join(parts), "search") if parts else None
