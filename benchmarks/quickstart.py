"""Time `make quickstart` from a fresh clone (venv creation + install + the whole recipe) and record its results.

This is the quick start's "under 5 minutes on 2 cores" claim, measured: the repository at HEAD is cloned into a
temporary folder beside ``../shared`` (so the layout matches CI), then ``make quickstart`` runs there.

Usage: python benchmarks/quickstart.py [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from _common import save

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", action="store_true", help="keep the temporary clone")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ev-qs-"))
    shared = REPO.parent / "shared"
    if shared.exists():
        (tmp / "shared").symlink_to(shared.resolve())
    clone = tmp / "edgevision"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIRTUAL_ENV")}
    load0, t0 = os.getloadavg(), time.perf_counter()
    r = subprocess.run(["make", "quickstart"], cwd=clone, env=env, capture_output=True, text=True)
    total, load1 = time.perf_counter() - t0, os.getloadavg()
    # CPU seconds of make and everything it ran: on a shared machine wall time also counts other people's work,
    # so this (≈ wall × cores used on a quiet machine) tells whether a slow run was slow or just crowded
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise SystemExit(f"make quickstart failed:\n{r.stderr[-3000:]}")
    runs = clone / "runs" / "quickstart"
    cards = {d.name: json.loads((d / "card.json").read_text()) for d in sorted(runs.iterdir())
             if (d / "card.json").exists()}
    recipe = json.loads((runs / "recipe.json").read_text())
    stage_s = {row["name"]: row.get("seconds") for row in recipe["stages"]}
    install_s = total - sum(v or 0 for v in stage_s.values())  # venv + pip install + data generation + startup
    train = cards.get("train", {})
    result = {"total_seconds": round(total, 1), "under_5_minutes": total < 300,
              "install_and_overhead_seconds": round(install_s, 1),
              "cpu_seconds": round(ru.ru_utime + ru.ru_stime, 1), "cores": os.cpu_count(),
              "loadavg_1min": {"start": round(load0[0], 2), "end": round(load1[0], 2)},
              "train_test_top1": train.get("metrics", {}).get("test", {}).get("top1"),
              "train_params": train.get("params"), "stages": list(cards), "stage_seconds": stage_s,
              "cards_metrics": {n: c.get("metrics") for n, c in cards.items()},
              "cards_size": {n: {"params": c.get("params"), "file_bytes": c.get("file_bytes")}
                             for n, c in cards.items()},
              "last_lines": r.stdout.strip().splitlines()[-3:]}
    print(json.dumps({k: result[k] for k in ("total_seconds", "cpu_seconds", "train_test_top1", "stages")}, indent=2))
    save("quickstart", result)
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
