"""Helpers shared by the benchmark scripts (not part of the package)."""

from __future__ import annotations

import datetime as _dt
import resource
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (all threads)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


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


def repo_relative(text: str) -> str:
    """``text`` with this checkout's absolute path removed (``/home/x/edgevision/runs/a`` → ``runs/a``)."""
    return str(text).replace(str(Path(__file__).resolve().parents[1]) + "/", "")


def ship(name: str, source: str | Path, card: dict[str, Any]) -> Path:
    """Pack ``source`` (a run folder, ``.pt`` or ``.evz``) and install it as the shipped model ``name``.

    Writes ``src/edgevision/pretrained/NAME.evz`` and ``NAME.card.json`` atomically: the source run's card, then
    ``card`` (``summary``, ``task``, ``data``, ``teacher``, ``metrics``, ``license``, ``benchmark``) over it.
    Exits when the packed file exceeds the shipped-size budget.
    """
    import shutil
    import tempfile

    import edgevision as ev
    from edgevision import shipped
    from edgevision.artifacts import resolve
    from edgevision.runs import RunDir
    from edgevision.utils.io import write_json

    src = resolve(source)
    with tempfile.TemporaryDirectory() as tmp:
        evz = src if src.suffix == ".evz" else ev.pack(src, out=Path(tmp) / "pack").artifact
        size = evz.stat().st_size
        if size > shipped.MAX_BYTES:
            sys.exit(f"error: {evz}: {size:,} bytes; a shipped model must stay within {shipped.MAX_BYTES:,}")
        base = RunDir(src.parent).card() if (src.parent / "card.json").exists() else {}
        dest = Path(__file__).resolve().parents[1] / "src" / "edgevision" / "pretrained"
        dest.mkdir(parents=True, exist_ok=True)
        part = dest / f".{name}.evz.part"
        shutil.copyfile(evz, part)
        part.replace(dest / f"{name}.evz")
    full = {**base, **card, "name": name, "artifact": f"{name}.evz", "file_bytes": size,
            "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")}
    if "parent" in full:  # the card travels in the wheel: no path of the machine that trained it
        full["parent"] = repo_relative(full["parent"])
    write_json(dest / f"{name}.card.json", full)
    print(f"shipped {name}: {size:,} bytes → {dest / (name + '.evz')}")
    return dest / f"{name}.evz"
