"""The end of a recipe run in the terminal: one table of what came out, and the next commands to try.

Like the HTML report it reads run folders only: each stage's card (artifact, file bytes, headline test metric,
latency) and, when the recipe benchmarked its artifacts, ``bench.json`` (batch-1 p50 latency per engine at the
smallest thread count measured), which takes precedence over a card's own quick torch timing.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from .html import headline
from .runs import StageView, collect

ENGINES = ("torch", "onnxruntime", "cv2", "openvino")


def _key(path: str | Path) -> str:
    return str(Path(path).resolve())


def bench_results(views: list[StageView]) -> dict[str, dict[str, Any]]:
    """Resolved artifact path → ``{"latency": {engine: batch-1 p50 ms}, "metric": "test top1 0.9"}`` from every
    bench stage (its smallest thread count; the metric of the first engine measured)."""
    out: dict[str, dict[str, Any]] = {}
    for v in views:
        bench = v.json("bench.json") or {} if v.verb == "bench" else {}
        rows = bench.get("rows") or []
        fewest = min((int(r.get("threads", 1)) for r in rows), default=1)
        for r in rows:
            if int(r.get("threads", 1)) != fewest or r.get("p50_ms") is None or r.get("precision") == "bf16":
                continue
            entry = out.setdefault(_key(r["artifact"]), {"latency": {}, "metric": ""})
            entry["latency"].setdefault(r["engine"], float(r["p50_ms"]))
            if not entry["metric"] and r.get("metric") and r.get("accuracy") is not None:
                entry["metric"] = f"{bench.get('split', 'test')} {r['metric']} {float(r['accuracy']):.4f}"
    return out


def card_latency(card: dict[str, Any]) -> dict[str, float]:
    """{engine: p50 ms} from a card: the quick ``{"engine", "p50_ms"}`` timing or profile's per-engine table."""
    lat = card.get("latency") or {}
    if "p50_ms" in lat:
        return {str(lat.get("engine", "torch")): float(lat["p50_ms"])}
    return {e: float(d["p50_ms"]) for e, d in lat.items() if isinstance(d, dict) and "p50_ms" in d}


def stage_rows(root: Path) -> list[dict[str, Any]]:
    """One row per finished stage of the recipe folder ``root``: stage, verb, artifact, bytes, metric, latency."""
    views = collect([root])
    bench = bench_results(views)
    rows = []
    for v in views:
        card = v.card
        art = v.path / card["artifact"] if card.get("artifact") else None
        about = art or (Path(card["parent"]) if card.get("parent") and v.verb in ("eval", "profile") else None)
        if v.verb == "bench":
            about = v.path / "bench.json"
        name, value = headline(card)
        measured = bench.get(_key(art), {}) if art else {}
        rows.append({"stage": v.name, "verb": v.verb, "artifact": art, "about": about,
                     "bytes": card.get("file_bytes"),
                     "metric": f"{name} {value:.4f}" if name else measured.get("metric", ""),
                     "latency": measured.get("latency") or card_latency(card)})
    return rows


def _short(path: Path | None) -> str:
    if path is None:
        return ""
    rel = os.path.relpath(path)
    return rel if len(rel) < len(str(path)) else str(path)


def summary_table(rows: list[dict[str, Any]]) -> Table:
    engines = [e for e in ENGINES if any(e in r["latency"] for r in rows)]
    t = Table(title="what came out", title_justify="left", show_edge=False, header_style="bold")
    for col, just in (("stage", "left"), ("artifact", "left"), ("bytes", "right"), ("test metric", "left"),
                      *((f"{e} ms", "right") for e in engines)):
        t.add_column(col, justify=just, overflow="fold")
    for r in rows:
        art = _short(r["artifact"]) if r["artifact"] else (f"→ {_short(r['about'])}" if r["about"] else "")
        t.add_row(r["stage"] if r["stage"] == r["verb"] else f"{r['stage']} ({r['verb']})", art,
                  f"{r['bytes']:,}" if isinstance(r["bytes"], int) else "", r["metric"],
                  *(f"{r['latency'][e]:.3f}" if e in r["latency"] else "" for e in engines))
    t.caption = "latency: batch-1 p50 in ms (bench's smallest thread count where benchmarked, else the stage's own)"
    t.caption_justify = "left"
    return t


def cli_command() -> tuple[str, str | None]:
    """How to call ``edgevision`` from here, and how to activate the virtual environment if it is not active."""
    scripts = Path(sys.prefix) / "bin"
    exe = scripts / "edgevision"
    found = shutil.which("edgevision")
    if not exe.exists() or (found and Path(found).resolve() == exe.resolve()):
        return "edgevision", None
    activate = scripts / "activate"
    return _short(exe), (f"source {_short(activate)}" if activate.exists() else None)


def next_commands(root: Path, rows: list[dict[str, Any]]) -> list[str]:
    """Commands to try next on the recipe's final artifact (the last stage that produced one)."""
    ev, activate = cli_command()
    final = next((r["artifact"] for r in reversed(rows) if r["artifact"] is not None), None)
    lines = [f"{activate}    # activate the environment; then plain `edgevision` works"] if activate else []
    if final is not None:
        a = _short(final)
        lines += [f"{ev} demo {a} --source 0    # live on a camera; or a video file, or a folder of images",
                  f"{ev} predict {a} photos/    # predictions and drawings for your images",
                  f"{ev} eval {a} --split test",
                  f"{ev} bench {a} --threads 1,2    # accuracy, size and latency on every engine"]
    report = root / "report.html"
    lines.append(f"report: {_short(report)}    # open it in a browser" if report.exists() else
                 f"{ev} report {_short(root)}    # one HTML page of every stage")
    return lines


def print_summary(root: str | Path, console: Console | None = None) -> list[dict[str, Any]]:
    """Print the table of a finished recipe folder and the next commands; return the rows."""
    root = Path(root)
    console = console or Console(width=max(shutil.get_terminal_size((120, 24)).columns, 100))
    rows = stage_rows(root)
    console.print(summary_table(rows))
    console.print("\n[bold]next:[/]")
    for line in next_commands(root, rows):
        console.print(f"  {line}", highlight=False, soft_wrap=True, markup=False)
    return rows


def recipe_folder(result: list[Any] | Path) -> Path:
    """The folder a recipe ran in, from what ``run`` (its stage results) or ``quickstart`` (the report) returned."""
    if isinstance(result, Path):
        return result.parent
    folders = [r.run_dir if r.card.get("stage") == "report" else r.run_dir.parent for r in result]
    return max(set(folders), key=folders.count)


def describe_run(result: list[Any] | Path) -> str:
    """``edgevision run`` / ``quickstart``: print the summary table and the next commands (nothing more to say)."""
    print_summary(recipe_folder(result))
    return ""
