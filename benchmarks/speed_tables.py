"""Render the tables of docs/results/speed.md from ``benchmarks/results/speed.json`` (so they are never hand-typed).

    .venv/bin/python benchmarks/speed_tables.py [benchmarks/results/speed.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def row(rows: list[dict], label: str, engine: str, precision: str | None = None, threads: int = 1) -> dict | None:
    return next((r for r in rows if r["label"] == label and r["engine"] == engine and r["threads"] == threads
                 and "p50_ms" in r and (precision is None or r["precision"] == precision)), None)


VARIANTS = (("", "fp32"), (" fp16", "fp16 weights"), (" pruned", "pruned 50 % MACs"),
            (" lowrank_svd", "low-rank SVD (rank 25 %)"), (" lowrank_separable", "k×1 + 1×k (rank 25 %)"),
            (" lowrank_dwsep", "depthwise-separable"), (" int8", "int8"), (" pruned+int8", "pruned + int8"))


def classifiers(res: dict) -> dict:
    """The trained classifiers (``mnist`` in result files written before the presence model joined)."""
    return res.get("classifiers") or res.get("mnist") or {}


def fmt(v, spec: str = ".3f") -> str:
    return "–" if v is None else format(v, spec)


def models_table(res: dict) -> str:
    rows = res["rows"]
    out = ["| model (input) | variant | params | MMACs | test top-1 | KB on disk | ORT p50 ms (1 thr) | × vs dense ORT "
           "| torch p50 ms | ORT % of fp32/int8 peak |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    labels = [(k, "96×96" if k.startswith("presence") else "28×28") for k in classifiers(res)]
    labels += [(k, "224×224") for k in res["latency"]]
    for key, size in labels:
        dense = row(rows, key, "onnxruntime")
        for suffix, name in VARIANTS:
            r = row(rows, key + suffix, "onnxruntime")
            if r is None:
                continue
            t = row(rows, key + suffix, "torch", "fp32")
            ratio = dense["p50_ms"] / r["p50_ms"] if dense else None
            acc = fmt(r["accuracy"], ".4f") if r.get("accuracy") is not None else "untrained"
            out.append(f"| {key.split('@')[0]} ({size}) | {name} | {r['params']:,} | {r['macs'] / 1e6:.1f} | {acc} | "
                       f"{r['file_bytes'] / 1024:.0f} | {fmt(r['p50_ms'])} | {fmt(ratio, '.2f')}× | "
                       f"{fmt(t['p50_ms'] if t else None)} | {100 * r['peak_fraction_b1']:.1f} % |")
    return "\n".join(out)


def engines_table(res: dict) -> str:
    eng = res.get("int8_engines") or {}
    names = sorted({k for v in eng.values() for k in v["p50_ms"]})
    out = ["| model | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for model, v in eng.items():
        out.append(f"| {model} | " + " | ".join(fmt(v["p50_ms"].get(n)) for n in names) + " |")
    notes = {v["pt2e"] for v in eng.values() if v.get("pt2e") != "measured"}
    return "\n".join(out) + ("\n\nPT2E: " + "; ".join(notes) if notes else "")


def calibration_table(res: dict) -> str:
    out = ["| model | MinMax drop | Entropy drop | Percentile drop | chosen | nodes kept in float | QAT |",
           "|---|---:|---:|---:|---|---|---|"]
    for key, m in classifiers(res).items():
        c = {r["method"]: r for r in m["int8"]["calibration"]}
        cells = [fmt(c.get(x, {}).get("drop_points"), ".2f") for x in ("minmax", "entropy", "percentile")]
        out.append(f"| {key} | " + " | ".join(cells) + f" | {m['int8']['method']} | "
                   f"{len(m['int8']['excluded'])} | {'yes' if m['int8']['qat'] else 'no'} |")
    return "\n".join(out)


def ablation_tables(res: dict) -> str:
    out = []
    rt = res.get("round_to_ablation")
    if rt:
        out += ["| mnist_cnn, half the MACs | widths per group | MACs removed | ORT p50 ms (1 thr) | × vs dense |",
                "|---|---|---:|---:|---:|"]
        for k, v in rt.items():
            w = " / ".join(map(str, v.get("widths", []))) or "32 / 32 / 64 / 64 / 128 / 128"
            cut = f"{100 * v['macs_reduction']:.0f} %" if "macs_reduction" in v else "–"
            out.append(f"| {k} | {w} | {cut} | {fmt(v['p50_ms'])} | {fmt(v['speedup'], '.2f')}× |")
        out.append("")
    act = res.get("activation_ablation")
    if act:
        out += ["| SqueezeNet-1.1 224², onnxruntime, 1 thread | p50 ms | × vs fp32 |", "|---|---:|---:|"]
        out += [f"| {k} | {fmt(v['p50_ms'])} | {fmt(v['speedup_vs_fp32'], '.2f')}× |" for k, v in act.items()]
    return "\n".join(out)


def main(path: str | None = None) -> None:
    res = json.loads(Path(path or ROOT / "benchmarks" / "results" / "speed.json").read_text())
    keys = ("int8_speedup_1t", "int8_accuracy_drop", "int8_trained_presence", "structured_latency_ratio",
            "structured_accuracy_drop", "peak_gmacs_1t")
    print("Headline: " + ", ".join(f"`{k}` = {res.get(k)}" for k in keys) + "\n")
    print(models_table(res) + "\n")
    print("int8 calibration (val drop in points after the stem choice, before sensitivity exclusion / QAT; the "
          "float nodes are the stem's and any excluded layers):\n\n" + calibration_table(res) + "\n")
    print("int8 engines, batch 1, 1 thread, p50 ms:\n\n" + engines_table(res) + "\n")
    print("Ablations:\n\n" + ablation_tables(res) + "\n")
    print("<details><summary>Verdicts, one per reduced-precision row</summary>\n\n"
          + "\n".join(f"- {v}" for v in res.get("verdicts", [])) + "\n\n</details>")


if __name__ == "__main__":
    main(*sys.argv[1:])
