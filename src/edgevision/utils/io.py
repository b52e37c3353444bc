"""Atomic writes: write to a temporary file in the same folder, fsync, then rename over the target.

The temporary file (or folder) gets the mode a plain ``open`` (``mkdir``) would give, ``0o666 & ~umask``
(``0o777 & ~umask``), not ``tempfile``'s owner-only ``0o600``: a deploy user, container or web server must be
able to read ``model.pt``, ``.evz``, ``.onnx`` and ``report.html`` whenever the umask allows it.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import yaml


def current_umask() -> int:
    """The process umask, read from ``/proc`` where it is there (Linux ≥ 4.7), else set and restored at once."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def temp_dir_beside(path: Path) -> Path:
    """A new hidden folder next to ``path`` with the mode ``mkdir`` would give it, to fill and rename onto ``path``."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    os.chmod(tmp, 0o777 & ~current_umask())
    return tmp


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary sibling of ``path``; on success rename it over ``path``, on error delete it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())  # as a plain open() would create it
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_open(path, "wb") as f:
        f.write(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_open(path, "w") as f:
        f.write(text)
    return Path(path)


def to_jsonable(obj: Any) -> Any:
    """Convert numpy/torch scalars, tuples and Paths so ``json.dumps`` accepts them."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist"):  # numpy arrays/scalars and torch tensors
        return obj.tolist()
    if isinstance(obj, float) and obj != obj:  # NaN is not valid JSON
        return None
    return obj


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    return write_text(path, json.dumps(to_jsonable(obj), indent=2, sort_keys=False) + "\n")


def write_yaml(path: str | os.PathLike, obj: Any) -> Path:
    return write_text(path, yaml.safe_dump(to_jsonable(obj), sort_keys=False))


def append_jsonl(path: str | os.PathLike, record: dict) -> None:
    """Append one JSON line. Lines are small, so a single write() keeps them whole."""
    with open(path, "a") as f:
        f.write(json.dumps(to_jsonable(record)) + "\n")


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """Read JSON lines, ignoring a trailing partial line left by a killed process."""
    rows = []
    p = Path(path)
    if not p.exists():
        return rows
    for line in p.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows
