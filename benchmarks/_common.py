"""Helpers shared by the benchmark scripts (not part of the package)."""

from __future__ import annotations

import datetime as _dt
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def require(name: str) -> Path:
    """The shared dataset folder, or exit with a clear message (benchmarks need real data)."""
    from edgevision.data.paths import find_dataset

    p = find_dataset(name)
    if p is None:
        sys.exit(f"error: dataset {name!r} not found; put ../shared/datasets beside the repo or set EDGEVISION_DATA")
    return p


def save(name: str, result: dict[str, Any], path: str | Path | None = None) -> Path:
    """Write ``benchmarks/results/<name>.json`` (or ``path``), atomically, with the machine, commit and date added."""
    from edgevision.runs import git_sha, machine
    from edgevision.utils.io import write_json

    result = {**result, "machine": machine(), "git_sha": git_sha(),
              "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")}
    path = write_json(Path(path) if path else RESULTS / f"{name}.json", result)
    print(f"wrote {path}")
    return path
