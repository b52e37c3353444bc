"""Exact sizes of the ``.evz`` tensor encodings from symbol counts, without building any bytes.

Every stream of :mod:`.streams` costs a header plus either ``⌈n·⌈log2 A⌉/8⌉`` bytes (fixed width) or the
Huffman table plus ``⌈Σ_s f_s·len_s / 8⌉`` bytes (Huffman 1952; Han et al. 2016, stage 3), and both depend only
on the symbol frequencies ``f_s``. So the size of each candidate encoding of :mod:`.codec` follows from counts:

- a codebook (dense weight sharing): the distinct values per tensor or per row and their counts (one sort);
  the index of a value is its rank among the distinct bit patterns of its book, so ``f_rank = Σ counts``;
- CSR with b-bit relative gaps (Han et al. 2016, Fig. 2): the histogram ``H`` of the skipped zeros ``d``
  before each nonzero. With ``M = 2^b − 1`` a skip ``d`` becomes ``⌊d / 2^b⌋`` fillers (gap M) and one gap
  ``d mod 2^b``, so for every b the gap frequencies are ``Σ_d H_d·[d mod 2^b = g]`` (+ fillers at M) and the
  fillers ``Σ_d H_d·⌊d / 2^b⌋``: one pass over H per b instead of one pass over the tensor.

``pack`` sizes every candidate this way and builds only the smallest (the first one on a tie, as before).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .bitio import width_for
from .streams import stream_size

BOOK_DTYPES = {0: np.float32, 1: np.float16}
BITS_OF = {np.dtype(np.float32): np.uint32, np.dtype(np.float16): np.uint16}
MAX_GAP_BITS = 16


def book_dtype(patterns: np.ndarray, dtype: np.dtype) -> int:
    """0 = store centroids as fp32, 1 = fp16 (when every fp32 pattern survives the round trip exactly)."""
    if dtype == np.float16:
        return 1
    allv = np.asarray(patterns).astype(np.uint32).view(np.float32)
    back = allv.astype(np.float16).astype(np.float32)
    return 1 if np.array_equal(back.view(np.uint32), allv.view(np.uint32)) else 0


@dataclass
class Values:
    """Values a codebook would share: their bit patterns and rows (``rows=None``: a full row-major matrix)."""

    bits: np.ndarray
    rows: np.ndarray | None
    n_rows: int
    dtype: np.dtype
    _tensor: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    _row: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    @classmethod
    def of(cls, vals: np.ndarray, rows: np.ndarray | None, n_rows: int) -> Values:
        return cls(vals.view(BITS_OF[vals.dtype]).ravel(), rows, n_rows, vals.dtype)

    def per_tensor(self) -> tuple[np.ndarray, np.ndarray]:
        """Distinct patterns (ascending) and their counts (a sort; numpy's hash-based unique is far slower)."""
        if self._tensor is None:
            self._tensor = np.unique(self.bits, return_counts=True)
        return self._tensor

    def per_row(self) -> tuple[np.ndarray, np.ndarray]:
        """Distinct (row, pattern) keys ``row·2^32 + pattern``, ascending, and their counts."""
        if self._row is None:
            rows = self.rows
            if rows is None:
                rows = np.repeat(np.arange(self.n_rows, dtype=np.int64), len(self.bits) // max(self.n_rows, 1))
            self._row = np.unique(rows.astype(np.int64) << 32 | self.bits.astype(np.int64), return_counts=True)
        return self._row

    def max_per_row(self) -> int:
        keys = self.per_row()[0]
        return int(np.bincount(keys >> 32, minlength=self.n_rows).max(initial=0)) if len(keys) else 0


def book_plan(values: Values, max_codebook: int, per_channel: bool | str) -> tuple[bool, bool]:
    """(per channel?, codebook allowed?): per channel when asked, or (auto) when the tensor has more than
    ``max_codebook`` distinct values; allowed when every book has at most ``max_codebook`` values. Rows are
    only counted when needed: more than ``max_codebook · rows`` distinct values mean some row has too many."""
    per_t = len(values.per_tensor()[0])
    pc = per_t > max_codebook if per_channel == "auto" else bool(per_channel)
    if not pc:
        return False, per_t <= max_codebook
    if per_t > max_codebook * values.n_rows:
        return True, False
    return True, values.max_per_row() <= max_codebook


def codebook_size(values: Values, per_channel: bool, use_huffman: bool, fillers: int | None = None,
                  keep_rows: np.ndarray | None = None) -> int:
    """Bytes of :func:`.codec.encode_codebook`: ``u8 kind · stream(book sizes) · centroids · stream(indices)``.

    ``fillers`` (CSR values): that many filler zeros coded as the extra symbol k; ``keep_rows``: the rows the
    layout keeps (the compacted CSR drops empty rows, and their empty books)."""
    if not per_channel:
        patterns, freq = values.per_tensor()
        sizes = np.array([len(patterns)], dtype=np.int64)
    else:
        keys, counts = values.per_row()
        key_rows = keys >> 32
        sizes = np.bincount(key_rows, minlength=values.n_rows)
        sizes = sizes[keep_rows] if keep_rows is not None else sizes
        rank = np.arange(len(keys)) - np.searchsorted(key_rows, key_rows)
        freq = np.bincount(rank, weights=counts, minlength=1).astype(np.int64)
        patterns = keys & 0xFFFFFFFF
    k = int(sizes.max(initial=0))
    item = np.dtype(BOOK_DTYPES[book_dtype(patterns, values.dtype)]).itemsize
    freq = np.pad(np.asarray(freq, dtype=np.int64), (0, max(k + 1 - len(freq), 0)))[: k + 1]
    if fillers is not None:
        freq[k] += fillers
        alphabet = k + 1
    else:
        alphabet = max(k, 1)
    return (1 + stream_size(np.bincount(sizes, minlength=k + 1), k + 1, use_huffman) + len(patterns) * item
            + stream_size(freq[:alphabet], alphabet, use_huffman))


@dataclass
class Layout:
    """The nonzero pattern of one CSR layout: plain (every row and column) or compacted to the live ones."""

    head: int  # bytes of the layout flag and the live-row/column bitmaps
    rows: np.ndarray  # row of each nonzero, in this layout's numbering
    skips: np.ndarray  # zeros skipped before each nonzero within its row
    n_rows: int
    n_cols: int
    keep_rows: np.ndarray | None = None

    @classmethod
    def of(cls, r: np.ndarray, c: np.ndarray, shape: tuple[int, int],
           live: tuple[np.ndarray, np.ndarray] | None = None) -> Layout:
        head, keep = 1, None
        if live is not None:
            live_r, live_c = live
            head = 1 + (shape[0] + 7) // 8 + (shape[1] + 7) // 8
            r, c = (np.cumsum(live_r) - 1)[r], (np.cumsum(live_c) - 1)[c]
            shape, keep = (int(live_r.sum()), int(live_c.sum())), live_r
        prev = np.empty_like(c)
        prev[:1] = -1
        prev[1:] = np.where(r[1:] == r[:-1], c[:-1], -1)
        return cls(head, r, c - prev - 1, shape[0], shape[1], keep)

    def hist(self) -> np.ndarray:
        return np.bincount(self.skips, minlength=1)

    def max_gap_bits(self) -> int:
        return min(MAX_GAP_BITS, max(1, width_for(self.n_cols)))


def gap_freqs(hist: np.ndarray, bits: int) -> tuple[np.ndarray, int]:
    """Frequencies of the ``bits``-bit gap symbols and the number of filler zeros, from the skip histogram."""
    d = np.arange(len(hist), dtype=np.int64)
    fillers = int(np.dot(hist, d >> bits))
    freq = np.bincount(d & ((1 << bits) - 1), weights=hist, minlength=1 << bits).astype(np.int64)
    freq[(1 << bits) - 1] += fillers
    return freq, fillers


def choose_gap_bits(layout: Layout, gap_bits: int | str, use_huffman: bool, values_cost: float) -> int:
    """The gap width b minimizing (gap stream + filler entries · ``values_cost``); the smallest b on a tie."""
    max_b = layout.max_gap_bits()
    if gap_bits != "auto":
        return min(int(gap_bits), max_b)
    hist = layout.hist()
    best, best_b = None, max_b
    for b in range(1, max_b + 1):
        freq, fillers = gap_freqs(hist, b)
        cost = stream_size(freq, 1 << b, use_huffman) + values_cost * fillers
        if best is None or cost < best:
            best, best_b = cost, b
    return best_b


def csr_index_size(layout: Layout, bits: int, use_huffman: bool) -> tuple[int, int]:
    """(bytes of ``u8 b · stream(row counts) · stream(gaps)``, filler zeros) for gap width ``bits``."""
    freq, fillers = gap_freqs(layout.hist(), bits)
    per_row = np.bincount(layout.rows, weights=(layout.skips >> bits) + 1, minlength=layout.n_rows)
    counts = per_row.astype(np.int64)
    alphabet = int(counts.max(initial=0)) + 1
    size = 1 + stream_size(np.bincount(counts, minlength=alphabet), alphabet, use_huffman)
    return size + stream_size(freq, 1 << bits, use_huffman), fillers
