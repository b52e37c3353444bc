"""Where the real datasets live: ``$EDGEVISION_DATA/<name>`` first, then ``../shared/datasets/<name>``."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from ..errors import DataError

_REPO = Path(__file__).resolve().parents[3]


def dataset_roots() -> list[Path]:
    roots = []
    if os.environ.get("EDGEVISION_DATA"):
        roots.append(Path(os.environ["EDGEVISION_DATA"]))
    roots += [Path.cwd() / ".." / "shared" / "datasets", _REPO.parent / "shared" / "datasets"]
    return roots


def find_dataset(name: str) -> Path | None:
    """Return the folder of a named shared dataset (e.g. ``"mnist"``), or None when it is absent."""
    for root in dataset_roots():
        p = root / name
        if p.is_dir():
            return p.resolve()
    return None


def require_dataset(name: str) -> Path:
    p = find_dataset(name)
    if p is None:
        looked = ", ".join(str(r / name) for r in dataset_roots())
        raise DataError(f"dataset {name!r} not found (looked in {looked}); set EDGEVISION_DATA to its parent folder")
    return p


def open_zip(path: Path) -> zipfile.ZipFile:
    """Open a dataset archive, turning a corrupt file into a one-line DataError."""
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise DataError(f"{path}: not a readable zip archive ({e})") from None
