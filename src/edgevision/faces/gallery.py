"""The face gallery: a SQLite file of named, L2-normalized embeddings (float32 blobs) tied to one model.

Schema (``PRAGMA user_version`` = 1)::

    meta(key TEXT PRIMARY KEY, value TEXT)          -- model_id, model_name, dim, threshold
    faces(id INTEGER PRIMARY KEY, name TEXT, embedding BLOB, source TEXT, created REAL)

Every query is parameterized (``?`` placeholders): a name is free text and is stored literally, never
interpolated into SQL and never used as a path. Enrolling a name again appends rows; ``delete`` removes all
rows of a name. A gallery remembers the id of the model that wrote it (a hash of its weights); opening it
with another model is refused, because embeddings of different models are not comparable.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ArtifactError, ConfigError, EdgevisionError

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS faces (id INTEGER PRIMARY KEY, name TEXT NOT NULL, embedding BLOB NOT NULL,
                                  source TEXT NOT NULL DEFAULT '', created REAL NOT NULL);
CREATE INDEX IF NOT EXISTS faces_name ON faces(name);
"""


class Gallery:
    """An open gallery bound to ``model_id``; use as a context manager (``with Gallery(...) as g``)."""

    def __init__(self, path: str | Path, model_id: str, dim: int, model_name: str = "", create: bool = True) -> None:
        self.path, self.model_id, self.dim = Path(path), model_id, int(dim)
        if not create and not self.path.is_file():
            raise EdgevisionError(f"gallery {self.path}: no such file (enroll someone first)")
        if self.path.is_dir():
            raise EdgevisionError(f"gallery {self.path}: is a folder, expected a SQLite file")
        try:
            self.db = sqlite3.connect(self.path)
            self.db.executescript(_SCHEMA)
            self._bind(model_name)
        except sqlite3.DatabaseError as e:
            raise ArtifactError(f"gallery {self.path}: not a readable SQLite gallery ({e})") from None

    def _bind(self, model_name: str) -> None:
        meta = self.meta()
        if not meta:
            with self.db:
                self.db.executemany("INSERT INTO meta(key, value) VALUES (?, ?)",
                                    [("model_id", self.model_id), ("model_name", model_name), ("dim", str(self.dim))])
                self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            return
        if meta.get("model_id") != self.model_id or int(meta.get("dim", -1)) != self.dim:
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
        return dict(self.db.execute("SELECT key, value FROM meta").fetchall())

    def set_meta(self, key: str, value: str) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, str(value)))

    def add(self, name: str, embeddings: np.ndarray, sources: list[str] | None = None) -> int:
        """Append embeddings (N, dim) under ``name``; returns how many rows were added."""
        if not isinstance(name, str) or not name.strip():
            raise ConfigError("faces: --name must be a non-empty string")
        e = np.ascontiguousarray(np.asarray(embeddings, np.float32).reshape(-1, self.dim))
        src = sources or [""] * len(e)
        now = time.time()
        with self.db:  # one transaction: all rows or none
            self.db.executemany("INSERT INTO faces(name, embedding, source, created) VALUES (?, ?, ?, ?)",
                                [(name, row.tobytes(), s, now) for row, s in zip(e, src)])
        return len(e)

    def add_many(self, names: list[str], embeddings: np.ndarray) -> int:
        """Append one row per (name, embedding) pair in one transaction."""
        e = np.ascontiguousarray(np.asarray(embeddings, np.float32).reshape(-1, self.dim))
        if len(names) != len(e):
            raise ConfigError(f"gallery: {len(names)} names for {len(e)} embeddings")
        now = time.time()
        with self.db:
            self.db.executemany("INSERT INTO faces(name, embedding, source, created) VALUES (?, ?, ?, ?)",
                                [(n, row.tobytes(), "", now) for n, row in zip(names, e)])
        return len(e)

    def delete(self, name: str) -> int:
        """Remove every embedding of ``name``; returns the number of rows removed (0: unknown name)."""
        with self.db:
            return self.db.execute("DELETE FROM faces WHERE name = ?", (name,)).rowcount

    def names(self) -> dict[str, int]:
        """``{name: number of embeddings}``."""
        return dict(self.db.execute("SELECT name, COUNT(*) FROM faces GROUP BY name ORDER BY name").fetchall())

    def load(self) -> tuple[list[str], np.ndarray]:
        """All rows as (names, embeddings (N, dim) float32)."""
        rows = self.db.execute("SELECT name, embedding FROM faces ORDER BY id").fetchall()
        if not rows:
            return [], np.zeros((0, self.dim), np.float32)
        return [r[0] for r in rows], np.frombuffer(b"".join(r[1] for r in rows), np.float32).reshape(-1, self.dim)


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
