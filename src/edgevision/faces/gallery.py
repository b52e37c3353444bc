"""The face gallery: a SQLite file of named, L2-normalized embeddings (float32 blobs) tied to one model.

Schema (``PRAGMA user_version`` = 2)::

    meta(key TEXT PRIMARY KEY, value TEXT)          -- model_id, model_name, dim, threshold, meta_crc
    faces(id INTEGER PRIMARY KEY, name TEXT, embedding BLOB, source TEXT, created REAL, crc INTEGER)

Every query is parameterized (``?`` placeholders): a name is free text and is stored literally, never
interpolated into SQL and never used as a path. Enrolling a name again appends rows; ``delete`` removes all
rows of a name. A gallery remembers the id of the model that wrote it (a hash of its weights); opening it
with another model is refused, because embeddings of different models are not comparable.

SQLite pages carry no checksum, so a damaged byte in a name or an embedding would be read back silently: each row
keeps a CRC-32 of its name, embedding and source (``crc``), and the meta table one of its other entries
(``meta_crc``); both are checked on every read, and a version-2 gallery must have them (so a damaged key cannot
drop a check). Version-1 galleries have none and are read as before; any SQLite error on a damaged file is one
ArtifactError line.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ArtifactError, ConfigError, EdgevisionError
from ..utils.text import one_line

SCHEMA_VERSION = 2
META_CRC = "meta_crc"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS faces (id INTEGER PRIMARY KEY, name TEXT NOT NULL, embedding BLOB NOT NULL,
                                  source TEXT NOT NULL DEFAULT '', created REAL NOT NULL, crc INTEGER);
CREATE INDEX IF NOT EXISTS faces_name ON faces(name);
"""
_ROWS = "SELECT id, name, embedding, source, crc FROM faces ORDER BY id"


def row_crc(name: str, embedding: bytes, source: str) -> int:
    """CRC-32 of one row's name, embedding bytes and source."""
    return zlib.crc32(name.encode() + b"\0" + embedding + b"\0" + source.encode())


def meta_crc(meta: dict[str, str]) -> str:
    """CRC-32 of the meta entries other than ``meta_crc`` itself (canonical JSON)."""
    return str(zlib.crc32(json.dumps({k: v for k, v in meta.items() if k != META_CRC}, sort_keys=True).encode()))


@contextlib.contextmanager
def damaged_as_error(path: Path) -> Iterator[None]:
    """Turn SQLite's errors on a damaged or foreign file into one ArtifactError line naming it."""
    try:
        yield
    except (sqlite3.DatabaseError, UnicodeDecodeError) as e:  # damaged text decodes as invalid UTF-8
        raise ArtifactError(f"gallery {path}: not a readable SQLite gallery, or damaged ({one_line(str(e))[:200]})"
                            ) from None


def signed(path: Path, db: sqlite3.Connection) -> bool:
    """Whether the gallery must carry checksums (``user_version`` 2); an unknown version is damage."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version not in (0, 1, SCHEMA_VERSION):
        raise ArtifactError(f"gallery {path}: unknown gallery version {version} (damaged, or from a newer edgevision)")
    return version == SCHEMA_VERSION


def verified_meta(path: Path, rows: list[tuple[Any, Any]], required: bool = False) -> dict[str, str]:
    """The meta table as a dict (without ``meta_crc``), checked against its CRC (which ``required`` demands)."""
    meta = dict(rows)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()) or (
            (required or META_CRC in meta) and meta.get(META_CRC) != meta_crc(meta)):
        raise ArtifactError(f"gallery {path}: damaged meta table (its checksum does not match); restore the file "
                            f"or enroll into a new gallery")
    meta.pop(META_CRC, None)
    return meta


def verified_rows(path: Path, rows: list[tuple], dim: int, required: bool = False) -> tuple[list[str], np.ndarray]:
    """(names, embeddings (N, dim) float32) of ``(id, name, embedding, source, crc)`` rows, each checked against
    its CRC (which ``required`` demands)."""
    def ok(r: tuple) -> bool:
        _, name, emb, src, crc = r
        if not (isinstance(name, str) and isinstance(emb, bytes) and isinstance(src, str) and len(emb) == 4 * dim):
            return False
        return (crc is None and not required) or crc == row_crc(name, emb, src)

    bad = [r[0] for r in rows if not ok(r)]
    if bad:
        raise ArtifactError(f"gallery {path}: {len(bad)} damaged row(s) (ids {', '.join(map(str, bad[:5]))}): their "
                            f"checksums do not match; restore the file or re-enroll those people")
    if not rows:
        return [], np.zeros((0, dim), np.float32)
    return [r[1] for r in rows], np.frombuffer(b"".join(r[2] for r in rows), np.float32).reshape(-1, dim)


def rows_query(db: sqlite3.Connection) -> str:
    """The row query; galleries from before version 2 have no ``crc`` column."""
    cols = {r[1] for r in db.execute("PRAGMA table_info(faces)").fetchall()}
    return _ROWS if "crc" in cols else _ROWS.replace(", crc FROM", ", NULL FROM")


class Gallery:
    """An open gallery bound to ``model_id``; use as a context manager (``with Gallery(...) as g``)."""

    def __init__(self, path: str | Path, model_id: str, dim: int, model_name: str = "", create: bool = True) -> None:
        self.path, self.model_id, self.dim = Path(path), model_id, int(dim)
        if not create and not self.path.is_file():
            raise EdgevisionError(f"gallery {self.path}: no such file (enroll someone first)")
        if self.path.is_dir():
            raise EdgevisionError(f"gallery {self.path}: is a folder, expected a SQLite file")
        if not create and self.path.stat().st_size == 0:
            raise ArtifactError(f"gallery {self.path}: empty file (damaged, or never enrolled into)")
        self.db = sqlite3.connect(self.path)
        try:
            with damaged_as_error(self.path):
                self.db.executescript(_SCHEMA)
                if "crc" not in {r[1] for r in self.db.execute("PRAGMA table_info(faces)").fetchall()}:
                    self.db.execute("ALTER TABLE faces ADD COLUMN crc INTEGER")  # a version-1 gallery
                self._bind(model_name)
        except BaseException:
            self.db.close()
            raise

    def _bind(self, model_name: str) -> None:
        meta = self.meta()
        if not meta:
            with self.db:
                self._write_meta({"model_id": self.model_id, "model_name": model_name, "dim": str(self.dim)})
                self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            return
        if meta.get("model_id") != self.model_id or meta.get("dim") != str(self.dim):
            raise ArtifactError(f"gallery {self.path} was enrolled with model {meta.get('model_name', '?')} "
                                f"(id {meta.get('model_id')}, dim {meta.get('dim')}), not this one "
                                f"(id {self.model_id}, dim {self.dim}); re-enroll into a new gallery with this model")

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    def meta(self) -> dict[str, str]:
        with damaged_as_error(self.path):
            return verified_meta(self.path, self.db.execute("SELECT key, value FROM meta").fetchall(),
                                 signed(self.path, self.db))

    def _write_meta(self, entries: dict[str, str]) -> None:
        """Upsert ``entries`` and the meta CRC (inside the caller's transaction)."""
        self.db.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", list(entries.items()))
        full = dict(self.db.execute("SELECT key, value FROM meta").fetchall())
        self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (META_CRC, meta_crc(full)))

    def set_meta(self, key: str, value: str) -> None:
        self.meta()  # a damaged meta table is refused, not re-signed
        with damaged_as_error(self.path), self.db:
            self._write_meta({key: str(value)})

    def add(self, name: str, embeddings: np.ndarray, sources: list[str] | None = None) -> int:
        """Append embeddings (N, dim) under ``name``; returns how many rows were added."""
        if not isinstance(name, str) or not name.strip():
            raise ConfigError("faces: --name must be a non-empty string")
        e = np.ascontiguousarray(np.asarray(embeddings, np.float32).reshape(-1, self.dim))
        return self._insert([name] * len(e), e, sources or [""] * len(e))

    def add_many(self, names: list[str], embeddings: np.ndarray) -> int:
        """Append one row per (name, embedding) pair in one transaction."""
        e = np.ascontiguousarray(np.asarray(embeddings, np.float32).reshape(-1, self.dim))
        if len(names) != len(e):
            raise ConfigError(f"gallery: {len(names)} names for {len(e)} embeddings")
        return self._insert(list(names), e, [""] * len(e))

    def _insert(self, names: list[str], e: np.ndarray, sources: list[str]) -> int:
        now = time.time()
        rows = [(n, row.tobytes(), s, now, row_crc(n, row.tobytes(), s)) for n, row, s in zip(names, e, sources)]
        with damaged_as_error(self.path), self.db:  # one transaction: all rows or none
            self.db.executemany("INSERT INTO faces(name, embedding, source, created, crc) VALUES (?, ?, ?, ?, ?)",
                                rows)
        return len(e)

    def delete(self, name: str) -> int:
        """Remove every embedding of ``name``; returns the number of rows removed (0: unknown name)."""
        with damaged_as_error(self.path), self.db:
            return self.db.execute("DELETE FROM faces WHERE name = ?", (name,)).rowcount

    def names(self) -> dict[str, int]:
        """``{name: number of embeddings}`` (sorted by name), from checked rows."""
        return dict(sorted(Counter(self.load()[0]).items()))

    def load(self) -> tuple[list[str], np.ndarray]:
        """All rows as (names, embeddings (N, dim) float32), each row checked against its CRC."""
        with damaged_as_error(self.path):
            rows = self.db.execute(rows_query(self.db)).fetchall()
            required = signed(self.path, self.db)
        return verified_rows(self.path, rows, self.dim, required)


def match(queries: np.ndarray, names: list[str], gallery: np.ndarray, k: int = 5) -> list[list[tuple[str, float]]]:
    """Rank identities for each query by cosine similarity (best embedding per name): top-``k`` (name, score).

    ``queries`` (Q, D) and ``gallery`` (N, D) are L2-normalized, so ``S = Q·Gᵀ`` (Q, N) is cosine similarity;
    a name's score is its best match over its enrolled images (a nearest-neighbour rule).
    """
    if not names:
        return [[] for _ in range(len(queries))]
    uniq, inv = np.unique(np.asarray(names, dtype=object), return_inverse=True)
    sims = queries @ gallery.T  # (Q, N)
    per_name = np.full((len(queries), len(uniq)), -np.inf, np.float32)
    np.maximum.at(per_name.T, inv, sims.T)  # (U, Q) ← max over each name's rows
    order = np.argsort(-per_name, 1)[:, :k]
    return [[(str(uniq[j]), float(per_name[q, j])) for j in order[q]] for q in range(len(queries))]
