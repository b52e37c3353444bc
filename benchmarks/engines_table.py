"""The docs' engine tables (docs/deploy.md), rendered from ``benchmarks/results/engines.json``::

    python benchmarks/engines_table.py            # prints the two markdown tables

Latency table: batch-1 p50 in ms with × onnxruntime fp32 of the same model and thread count, the fastest of each
row in bold, "—" where a converter rejected the model. Size table: MMACs, file sizes in KB, the fp32 top-2 margin,
and for each int8 file its top-1 agreement (per position for maps) with onnxruntime fp32 on the held-out photos,
with the cosine of its outputs to fp32's in brackets. Accuracy table (the trained models): each file's top-1 on the
whole test split, its drop in points against torch fp32, and its speed at 1 thread.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RESULT = Path(__file__).resolve().parent / "results" / "engines.json"


def _engines(d: dict) -> list[str]:
    labels: list[str] = []
    for m in d["models"].values():
        for lat in m["latency_ms"].values():
            labels += [k for k in lat if k not in labels]
    return labels


def latency_table(d: dict) -> str:
    labels = _engines(d)
    lines = ["| model | threads | " + " | ".join(labels) + " | best int8 × ort fp32 |",
             "|---|---:|" + "---:|" * len(labels) + "---:|"]
    for name, m in d["models"].items():
        for n, lat in m["latency_ms"].items():
            vs = m["vs_ort_fp32"][n]
            fastest = min(lat, key=lat.get)
            cells = []
            for k in labels:
                cell = f"{lat[k]:.2f} ({vs[k]:.2f}×)" if k in lat else "—"
                cells.append(f"**{cell}**" if k == fastest else cell)
            int8 = {k: v for k, v in vs.items() if "int8" in k}
            best = max(int8, key=int8.get)
            lines.append(f"| {name} | {n} | " + " | ".join(cells) + f" | {int8[best]:.2f} ({best}) |")
    return "\n".join(lines)


def size_table(d: dict) -> str:
    kinds = []
    for m in d["models"].values():
        kinds += [k for k in m["file_bytes"] if k not in kinds]
    int8 = [k for m in d["models"].values() for k in m["agreement"] if "int8" in k]
    int8 = list(dict.fromkeys(int8))
    lines = ["| model | MMACs | " + " | ".join(f"{k} KB" for k in kinds) + " | top-2 margin | "
             + " | ".join(int8) + " |", "|---|---:|" + "---:|" * (len(kinds) + 1) + "---:|" * len(int8)]
    for name, m in d["models"].items():
        sizes = [f"{m['file_bytes'][k] / 1024:.0f}" if k in m["file_bytes"] else "—" for k in kinds]
        cos = m.get("cosine", {})
        agree = [f"{m['agreement'][k]:.3f}" + (f" ({cos[k]:.4f})" if k in cos else "") if k in m["agreement"]
                 else "—" for k in int8]
        margin = m.get("top2_margin_fp32", "—")
        lines.append(f"| {name} | {m['macs'] / 1e6:.0f} | " + " | ".join(sizes) + f" | {margin} | " + " | ".join(agree)
                     + " |")
    return "\n".join(lines)


def accuracy_table(d: dict) -> str:
    lines = ["| model | file | test top-1 | drop (points) | × ort fp32, 1 thread |", "|---|---|---:|---:|---:|"]
    for name, m in d["models"].items():
        if not m.get("trained"):
            continue
        one = m["vs_ort_fp32"][str(d["threads"][0])]
        for i, (k, acc) in enumerate(m["accuracy"].items()):
            head = f"{name} ({m['test_samples']} test images)" if i == 0 else ""
            lines.append(f"| {head} | {k} | {acc:.4f} | {m['accuracy_drop_points'][k]:.2f} | {one[k]:.2f}× |")
    return "\n".join(lines)


def main() -> None:
    d = json.loads((Path(sys.argv[1]) if len(sys.argv) > 1 else RESULT).read_text())
    print(latency_table(d) + "\n\n" + size_table(d) + "\n\n" + accuracy_table(d))


if __name__ == "__main__":
    main()
