"""Print the segmentation tables (Markdown) of docs/results/pennfudan_segmentation.md from
benchmarks/results/pennfudan_segmentation.json and segmentation_search.json, so the docs quote the JSON exactly.

Usage: .venv/bin/python benchmarks/segmentation_tables.py
"""

from __future__ import annotations

import json

from _common import RESULTS

ORDER = ("enet", "linknet", "mobileseg", "fastlinknet", "distilled")


def seg_table(doc: dict) -> str:
    head = ("| net | epochs | mIoU | mDice | mPA | int8 mIoU | params | GMACs | fps fp32, 1 thread "
            "| fps int8, 1 thread | Demborg (2018): mIoU (synthetic / real), ms on a 2016 phone |")
    rows = [head, "|" + "---|" * 11]
    for name in ORDER:
        m = doc["models"].get(name)
        if m is None:
            continue
        d = doc["doc_004"].get(m["model"]["name"] if isinstance(m["model"], dict) else m["model"], {})
        label = f"distilled {m.get('student', '')} ← {m.get('teacher', '')}" if name == "distilled" else name
        ref = f"{d['miou']:.3f} / {d['miou_real']:.3f}, {d['ms_phone']} ms" if d and name != "distilled" else ""
        rows.append(f"| {label} | {m['epochs']} | {m['miou']:.3f} | {m['mdice']:.3f} | {m['mpa']:.3f} | "
                    f"{m['miou_int8']:.3f} | {m['params']:,} | {m['gmacs']:.3f} | {m['fps_1t']:.0f} | "
                    f"{m['fps_int8_1t']:.0f} | {ref} |")
    return "\n".join(rows)


def search_table(doc: dict) -> str:
    rows = ["| trial | val mIoU | latency ms (1 thread) | params |", "|---|---|---|---|"]
    for t in doc["pareto_front"]:
        p = ", ".join(f"{k.split('.')[-1]}={v if not isinstance(v, float) else round(v, 4)}"
                      for k, v in t["params"].items())
        rows.append(f"| {t['number']} | {t['val_miou']:.3f} | {t['latency_ms_1t']:.2f} | {p} |")
    return "\n".join(rows)


def main() -> None:
    seg = RESULTS / "pennfudan_segmentation.json"
    if seg.exists():
        doc = json.loads(seg.read_text())
        print(seg_table(doc))
        print(f"\ngoal met (fp32): {doc['goal']['met_fp32']}, (int8): {doc['goal']['met_int8']}; "
              f"teacher {doc['teacher']}; load {doc['load_average']}; {doc['seconds']} s")
    search = RESULTS / "segmentation_search.json"
    if search.exists():
        doc = json.loads(search.read_text())
        print()
        print(search_table(doc))
        print(f"\ncounts {doc['counts']}; {doc['seconds']} s")


if __name__ == "__main__":
    main()
