"""Canonical, length-limited Huffman coding with vectorized encode and decode (Deep Compression, stage 3).

Han et al. (2016) Huffman-code the cluster indices and the sparse index gaps of a pruned, quantized network,
saving another 20–30 % because both distributions are far from uniform. A Huffman code gives symbol *s* a
prefix-free code of ``len_s`` bits with ``Σ 2^−len_s ≤ 1`` (Kraft) and minimizes ``Σ freq_s · len_s``.

- **Canonical codes** (as in DEFLATE, RFC 1951 §3.2.2): codes are assigned in order of (length, symbol), so
  the code lengths alone define the code. The table is stored either as one nibble per symbol or, for sparse
  alphabets, as the count of codes per length plus the used symbols in canonical order — whichever is smaller.
- **Length limit** :data:`MAX_LEN` = 15 bits keeps the decode table at 2^15 entries. Over-long codes are
  clipped and the Kraft sum repaired by lengthening the rarest short codes (as zstd's ``HUF_setMaxHeight``).
- **Encoding** is :func:`bitio.write_symbols` with the (code, length) tables: no Python loop per symbol.
- **Decoding** without a per-symbol loop: a table lookup of the 15-bit window at *every* bit position gives
  ``next[p] = p + len(code at p)``; the code starts are the orbit 0 → next[0] → next[next[0]] … , which
  pointer doubling enumerates in ⌈log2 n⌉ vectorized passes (``S ← S ∪ jump[S]``, ``jump ← jump[jump]``).
  The stream is processed in chunks of :data:`CHUNK_BITS` so memory stays bounded on large tensors.
"""

from __future__ import annotations

import heapq

import numpy as np

from ...errors import ArtifactError
from .bitio import Reader, read_fixed, varint, width_for, windows, write_bits, write_symbols

MAX_LEN = 15
MAX_ALPHABET = 1 << 16  # larger alphabets are stored fixed-width
CHUNK_BITS = 1 << 22


def code_lengths(freqs: np.ndarray, max_len: int = MAX_LEN) -> np.ndarray:
    """Optimal prefix-code lengths for symbol frequencies (0 for unused symbols), limited to ``max_len`` bits."""
    freqs = np.asarray(freqs, dtype=np.int64)
    lengths = np.zeros(len(freqs), dtype=np.int64)
    used = np.flatnonzero(freqs)
    if len(used) == 1:
        lengths[used] = 1  # a lone symbol still needs one bit per occurrence to be countable
    if len(used) <= 1:
        return lengths
    # Heap of (weight, tiebreak, node); leaves are 0..m-1, internal nodes get parents recorded.
    heap = [(int(freqs[s]), i, i) for i, s in enumerate(used)]
    heapq.heapify(heap)
    parent = list(range(len(used)))
    nxt = len(used)
    while len(heap) > 1:
        w1, _, a = heapq.heappop(heap)
        w2, _, b = heapq.heappop(heap)
        parent.append(nxt)
        parent[a] = parent[b] = nxt
        heapq.heappush(heap, (w1 + w2, nxt, nxt))
        nxt += 1
    depth = np.zeros(nxt, dtype=np.int64)
    for node in range(nxt - 2, -1, -1):  # parents have larger ids, so one reverse pass fills depths
        depth[node] = depth[parent[node]] + 1
    lengths[used] = depth[: len(used)]
    if lengths.max() > max_len:
        lengths = _limit(lengths, freqs, max_len)
    return lengths


def _limit(lengths: np.ndarray, freqs: np.ndarray, max_len: int) -> np.ndarray:
    """Clip lengths to ``max_len`` and restore Kraft ``Σ 2^(L−len) ≤ 2^L`` by lengthening the rarest codes."""
    lengths = np.minimum(lengths, max_len)
    used = np.flatnonzero(lengths)
    if len(used) > 1 << max_len:
        raise ValueError(f"{len(used)} symbols cannot have a prefix code of at most {max_len} bits")
    excess = int(np.sum(1 << (max_len - lengths[used]))) - (1 << max_len)
    order = used[np.lexsort((-lengths[used], freqs[used]))]  # rarest first
    while excess > 0:
        for s in order:
            if lengths[s] < max_len:
                excess -= 1 << (max_len - lengths[s] - 1)
                lengths[s] += 1
                if excess <= 0:
                    break
    # Lengthening can overshoot; give bits back to the most frequent codes while Kraft still holds.
    for s in order[::-1]:
        while lengths[s] > 1 and -excess >= 1 << (max_len - lengths[s]):
            excess += 1 << (max_len - lengths[s])
            lengths[s] -= 1
    return lengths


def canonical_codes(lengths: np.ndarray) -> np.ndarray:
    """Canonical code values (RFC 1951 §3.2.2) for given code lengths; 0 for unused symbols."""
    lengths = np.asarray(lengths, dtype=np.int64)
    codes = np.zeros(len(lengths), dtype=np.int64)
    used = np.flatnonzero(lengths)
    if len(used) == 0:
        return codes
    order = used[np.lexsort((used, lengths[used]))]
    ls = lengths[order]
    bl_count = np.bincount(ls, minlength=MAX_LEN + 2)
    next_code = np.zeros(MAX_LEN + 2, dtype=np.int64)
    code = 0
    for bits in range(1, MAX_LEN + 2):
        code = (code + bl_count[bits - 1]) << 1
        next_code[bits] = code
    first_rank = np.searchsorted(ls, ls)  # rank of each symbol within its length group
    codes[order] = next_code[ls] + np.arange(len(order)) - first_rank
    return codes


def kraft_ok(lengths: np.ndarray) -> bool:
    used = lengths[lengths > 0]
    return bool(np.all(used <= MAX_LEN)) and int(np.sum(1 << (MAX_LEN - used))) <= 1 << MAX_LEN


# ---------------------------------------------------------------------------- tables
def write_table(lengths: np.ndarray) -> bytes:
    """Serialize code lengths compactly: ``0`` + nibbles, or ``1`` + counts per length + canonical symbol list."""
    lengths = np.asarray(lengths, dtype=np.int64)
    n = len(lengths)
    dense = bytes([0]) + varint(n) + write_bits(lengths, 4)[0]
    used = np.flatnonzero(lengths)
    order = used[np.lexsort((used, lengths[used]))]
    counts = np.bincount(lengths[order], minlength=MAX_LEN + 1)[1:]
    sparse = (bytes([1]) + varint(n) + b"".join(varint(int(c)) for c in counts)
              + write_bits(order, width_for(n))[0])
    return dense if len(dense) <= len(sparse) else sparse


def read_table(r: Reader, max_alphabet: int) -> np.ndarray:
    """Inverse of :func:`write_table`; checks the alphabet bound and the Kraft inequality."""
    kind = r.u8()
    n = r.varint(max_alphabet)
    if kind == 0:
        lengths = read_fixed(r.take((4 * n + 7) // 8), n, 4)
    elif kind == 1:
        counts = [r.varint(n) for _ in range(MAX_LEN)]
        total = sum(counts)
        if total > n:
            raise ArtifactError(f"{r.what}: Huffman table lists {total} codes for {n} symbols")
        symbols = read_fixed(r.take((total * width_for(n) + 7) // 8), total, width_for(n))
        if np.any(symbols >= n) or len(np.unique(symbols)) != total:
            raise ArtifactError(f"{r.what}: Huffman table has invalid or repeated symbols")
        lengths = np.zeros(n, dtype=np.int64)
        lengths[symbols] = np.repeat(np.arange(1, MAX_LEN + 1), counts)
    else:
        raise ArtifactError(f"{r.what}: unknown Huffman table kind {kind}")
    if not kraft_ok(lengths):
        raise ArtifactError(f"{r.what}: Huffman code lengths violate the Kraft inequality")
    return lengths


# ---------------------------------------------------------------------------- coding
def encoded_bits(symbols_or_freqs: np.ndarray, lengths: np.ndarray, is_freqs: bool = False) -> int:
    """Exact payload size in bits without encoding: ``Σ freq_s · len_s``."""
    freqs = symbols_or_freqs if is_freqs else np.bincount(symbols_or_freqs, minlength=len(lengths))
    return int(np.dot(freqs.astype(np.int64), lengths[: len(freqs)]))


def encode(symbols: np.ndarray, lengths: np.ndarray) -> tuple[bytes, int]:
    """Huffman-encode ``symbols`` with the canonical code of ``lengths``; returns (bytes, n_bits)."""
    symbols = np.asarray(symbols)
    lengths = np.asarray(lengths, dtype=np.int64)
    if symbols.size and np.any(np.bincount(symbols.ravel(), minlength=len(lengths))[: len(lengths)][lengths == 0]):
        raise ValueError("a symbol to encode has no code (zero frequency in the table)")
    return write_symbols(symbols, canonical_codes(lengths), lengths)


def _decode_table(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Lookup tables indexed by an L-bit window: symbol and code length (0 = no code starts with it)."""
    width = max(int(lengths.max(initial=0)), 1)
    codes = canonical_codes(lengths)
    used = np.flatnonzero(lengths)
    span = 1 << (width - lengths[used])  # how many L-bit windows start with each code
    first = codes[used] << (width - lengths[used])
    idx = np.repeat(first, span) + (np.arange(span.sum()) - np.repeat(np.cumsum(span) - span, span))
    sym_t = np.zeros(1 << width, dtype=np.int64)
    len_t = np.zeros(1 << width, dtype=np.int64)
    sym_t[idx] = np.repeat(used, span)
    len_t[idx] = np.repeat(lengths[used], span)
    return sym_t, len_t, width


def decode(data: bytes, n_bits: int, n_symbols: int, lengths: np.ndarray) -> np.ndarray:
    """Decode exactly ``n_symbols`` symbols from the first ``n_bits`` bits; raise ArtifactError if they do not fit."""
    if n_symbols == 0:
        if n_bits:
            raise ArtifactError(f"Huffman stream: {n_bits} bits hold no symbols")
        return np.zeros(0, dtype=np.int64)
    if n_bits > len(data) * 8 or not np.any(lengths):
        raise ArtifactError("Huffman stream: shorter than its recorded length, or an empty code table")
    sym_t, len_t, width = _decode_table(lengths)
    starts: list[np.ndarray] = []
    pos, found = 0, 0
    while found < n_symbols:
        if pos >= n_bits:
            raise ArtifactError(f"Huffman stream: ended after {found} of {n_symbols} symbols")
        chunk = _chain(data, pos, min(n_bits, pos + CHUNK_BITS), n_bits, len_t, width, n_symbols - found)
        starts.append(chunk)
        found += len(chunk)
        pos = int(chunk[-1] + len_t[windows(data, chunk[-1:], width)[0]])
    offsets = np.concatenate(starts)[:n_symbols]
    win = windows(data, offsets, width)
    end = int(offsets[-1] + len_t[win[-1]])
    if end != n_bits:
        raise ArtifactError(f"Huffman stream: symbols end at bit {end}, but the stream has {n_bits} bits")
    return sym_t[win]


def _chain(data: bytes, lo: int, hi: int, n_bits: int, len_t: np.ndarray, width: int, limit: int) -> np.ndarray:
    """Code start positions in ``[lo, hi)`` reachable from ``lo`` (pointer doubling over ``next``)."""
    pos = np.arange(lo, hi, dtype=np.int64)
    step = len_t[windows(data, pos, width)]
    nxt = pos + step
    bad = (step == 0) | (nxt > n_bits)  # no code here, or a code running past the end of the stream
    sentinel = hi - lo  # index of an absorbing "outside" state
    jump = np.where(bad | (nxt >= hi), sentinel, nxt - lo)
    jump = np.append(jump, sentinel)
    if bad[0]:
        raise ArtifactError(f"Huffman stream: invalid code at bit {lo}")
    reach = np.zeros(1, dtype=np.int64)  # orbit of 0, doubled each pass
    while reach[-1] != sentinel and len(reach) < limit:
        reach = np.concatenate([reach, jump[reach]])
        jump = jump[jump]
    reach = reach[: np.searchsorted(reach, sentinel) if reach[-1] == sentinel else len(reach)][:limit]
    last = reach[-1]
    if bad[last] and len(reach) < limit:  # the orbit stopped at an invalid code inside the chunk
        raise ArtifactError(f"Huffman stream: invalid code at bit {lo + int(last)}")
    return reach + lo
