"""Deep Compression's relative indexing: CSR rows whose column indices are stored as b-bit gaps.

A tensor is viewed as a matrix of ``rows = shape[0]`` and ``cols = numel / rows`` (output channel × fan-in).
In each row the nonzeros at columns ``c_0 < c_1 < …`` are stored as the number of zeros skipped before each,
``d_i = c_i − c_{i−1} − 1`` (with ``c_{−1} = −1``). A gap must fit in ``b`` bits, i.e. ``d ≤ M = 2^b − 1``;
a longer run gets **filler zeros** (Han et al. 2016, Fig. 2): an explicit zero entry after skipping M zeros,
repeated ``⌊d / 2^b⌋`` times, then the real entry with gap ``d mod 2^b``. A row pointer is stored as the
count of entries (fillers included) per row.
"""

from __future__ import annotations

import numpy as np

from ...errors import ArtifactError


def relative_gaps(mask: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Encode the nonzero pattern of a (rows, cols) boolean ``mask`` with ``bits``-bit gaps.

    Returns:
        row_counts (rows,): entries per row, fillers included.
        gaps (E,): skipped zeros before each entry, each ≤ 2^bits − 1.
        real (E,): False for filler zeros; the real entries follow ``mask``'s row-major order.
    """
    rows = mask.shape[0]
    r, c = np.nonzero(mask)
    prev = np.empty_like(c)
    prev[:1] = -1
    prev[1:] = np.where(r[1:] == r[:-1], c[:-1], -1)
    d = c - prev - 1
    n_fill = d >> bits
    per = n_fill + 1
    ends = np.cumsum(per)
    gaps = np.full(int(ends[-1]) if len(ends) else 0, (1 << bits) - 1, dtype=np.int64)
    real = np.zeros(len(gaps), dtype=bool)
    gaps[ends - 1] = d & ((1 << bits) - 1)
    real[ends - 1] = True
    row_counts = np.bincount(r, weights=per, minlength=rows).astype(np.int64)
    return row_counts, gaps, real


def absolute_positions(row_counts: np.ndarray, gaps: np.ndarray, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`relative_gaps`: (row, col) of every entry; raises if a column falls outside the row."""
    if int(row_counts.sum()) != len(gaps):
        raise ArtifactError(f"CSR: row counts add up to {int(row_counts.sum())} entries, but {len(gaps)} gaps")
    step = np.cumsum(gaps + 1)  # position + 1 of each entry if the rows were concatenated
    first = np.cumsum(row_counts) - row_counts
    base = np.where(first > 0, step[np.maximum(first - 1, 0)] if len(step) else 0, 0)
    row = np.repeat(np.arange(len(row_counts)), row_counts)
    col = step - base[row] - 1 if len(step) else step
    if len(col) and (col.max() >= cols or col.min() < 0):
        raise ArtifactError(f"CSR: a column index reaches {int(col.max())}, but rows have {cols} columns")
    return row, col


def filler_count(mask: np.ndarray, bits: int) -> int:
    """How many filler zeros ``bits``-bit gaps need for this pattern (cheap: no arrays of entries)."""
    r, c = np.nonzero(mask)
    prev = np.empty_like(c)
    prev[:1] = -1
    prev[1:] = np.where(r[1:] == r[:-1], c[:-1], -1)
    return int(np.sum((c - prev - 1) >> bits))
