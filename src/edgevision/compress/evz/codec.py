"""Encoding one tensor for the ``.evz`` container, and the size accounting of that encoding.

Encodings (the cheapest exact one is chosen per tensor unless the options forbid it):

- ``raw``: the tensor's bytes in its own dtype (any dtype; little-endian), or fp16 for fp32 (lossy, opt-in).
- ``codebook``: dense weight sharing — a codebook of the tensor's distinct values (fp16 when every value is
  exactly representable in fp16, else fp32; one book per tensor or per output channel) and one index per
  element, Huffman-coded. For an unpruned layer with k shared fp32 weights this is the closed form of
  Deep Compression, ``n·b / (k·b + n·log2 k)`` with b = 32, plus a few header bytes.
- ``csr``: sparse — CSR rows with b-bit relative column gaps and filler zeros (:mod:`.csr`), entry counts per
  row, then per entry a codebook index (filler = symbol k) or a raw value; optionally over the submatrix of
  live rows and columns (two bitmaps), which pruning's dead neurons and unused inputs make much smaller.
  Every stream is Huffman-coded when that is smaller; the gap width b is chosen per tensor by exact size
  (``gap_bits="auto"``).

Distinct values are found on bit patterns, so −0.0, NaN payloads and every weight round-trip bit-exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import torch

from ...errors import ArtifactError
from . import csr
from .bitio import Reader, varint, width_for
from .sizing import (
    BITS_OF,
    BOOK_DTYPES,
    MAX_GAP_BITS,
    Layout,
    Values,
    book_dtype,
    book_plan,
    choose_gap_bits,
    codebook_size,
    csr_index_size,
)
from .streams import StreamInfo, decode_stream, encode_stream


@dataclass(frozen=True)
class CodecOptions:
    """How :func:`encode_tensor` may store a tensor."""

    huffman: bool = True
    gap_bits: int | Literal["auto"] = "auto"
    max_codebook: int = 256  # tensors (or channels) with at most this many distinct values get a codebook
    per_channel: bool | Literal["auto"] = "auto"
    sparse: Literal["auto", "always", "never"] = "auto"
    float_dtype: Literal["fp32", "fp16"] = "fp32"  # raw floats; fp16 is lossy


@dataclass
class TensorInfo:
    """One row of the size table (bytes exclude the container's per-tensor JSON entry)."""

    name: str
    shape: list[int]
    dtype: str
    encoding: str
    params: int
    nonzeros: int
    codebook: int = 0  # shared values (largest book when per channel)
    books: int = 0
    bits_index: int = 0  # fixed-width bits of one cluster index (⌈log2(k [+1 filler])⌉)
    bits_gap: int = 0
    fillers: int = 0
    fixed_bytes: int = 0  # the same encoding with every stream fixed-width (before Huffman)
    bytes: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------------------- values (codebook or raw)
def _books(vals: np.ndarray, rows: np.ndarray, n_rows: int, per_channel: bool) -> tuple[list[np.ndarray], np.ndarray]:
    """Distinct bit patterns (per tensor or per row) and each value's index in its book."""
    bits = vals.view(BITS_OF[vals.dtype]).astype(np.int64)
    if not per_channel:
        book, idx = np.unique(bits, return_inverse=True)
        return [book], idx.ravel()
    key = rows * (1 << 32) + bits  # sort by (row, pattern) in one pass
    uniq, idx = np.unique(key, return_inverse=True)
    u_rows = uniq >> 32
    starts = np.searchsorted(u_rows, np.arange(n_rows))
    ends = np.searchsorted(u_rows, np.arange(n_rows), side="right")
    books = [uniq[s:e] & 0xFFFFFFFF for s, e in zip(starts, ends)]
    return books, idx.ravel() - starts[rows]


def encode_codebook(vals: np.ndarray, rows: np.ndarray, n_rows: int, per_channel: bool,
                    real: np.ndarray | None, use_huffman: bool) -> tuple[bytes, list[StreamInfo], dict]:
    """``u8 book dtype · stream(book sizes) · centroids · stream(indices)``.

    With ``real`` (a CSR value stream), entries where ``real`` is False are filler zeros, coded as symbol k_max.
    """
    books, idx = _books(vals if real is None else vals[real], rows if real is None else rows[real], n_rows,
                        per_channel)
    kind = book_dtype(np.concatenate(books), vals.dtype)
    sizes = np.array([len(b) for b in books], dtype=np.int64)
    k = int(sizes.max(initial=0))
    cent = np.concatenate(books).astype(BITS_OF[vals.dtype]).view(vals.dtype).astype(BOOK_DTYPES[kind])
    if real is not None:  # filler zeros become the extra symbol k
        full = np.full(len(real), k, dtype=np.int64)
        full[real] = idx
        idx, alphabet = full, k + 1
    else:
        alphabet = max(k, 1)
    size_bytes, size_info = encode_stream(sizes, k + 1, use_huffman)
    idx_bytes, idx_info = encode_stream(idx, alphabet, use_huffman)
    out = bytes([kind]) + size_bytes + cent.tobytes() + idx_bytes
    return out, [size_info, idx_info], {"codebook": k, "books": len(books), "bits_index": width_for(alphabet)}


def decode_codebook(r: Reader, n: int, rows: np.ndarray, n_rows: int, dtype: np.dtype, filler: bool) -> np.ndarray:
    """Inverse of :func:`encode_codebook` for ``n`` entries whose rows are ``rows`` (of ``n_rows``)."""
    kind = r.u8()
    if kind not in BOOK_DTYPES:
        raise ArtifactError(f"{r.what}: unknown codebook dtype {kind}")
    sizes, _ = decode_stream(r, max(n_rows, 1), max_alphabet=n + 2)
    if len(sizes) not in (1, n_rows):
        raise ArtifactError(f"{r.what}: {len(sizes)} codebooks for {n_rows} rows")
    item = np.dtype(BOOK_DTYPES[kind]).itemsize
    cent = np.frombuffer(r.take(int(sizes.sum()) * item), dtype=BOOK_DTYPES[kind]).astype(dtype)
    k = int(sizes.max(initial=0))
    idx, alphabet = decode_stream(r, n, max_alphabet=k + 2)
    if alphabet != (k + 1 if filler else max(k, 1)):
        raise ArtifactError(f"{r.what}: index alphabet {alphabet} does not match the codebook size {k}")
    table = np.concatenate([cent, np.zeros(1, dtype)])  # the filler symbol decodes to +0.0
    start = np.cumsum(sizes) - sizes
    if len(sizes) == 1:
        book_of, limit = np.zeros(n, np.int64), np.full(n, sizes[0])
    else:
        book_of, limit = rows, sizes[rows]
    is_fill = idx == k if filler else np.zeros(n, bool)
    if np.any((idx >= limit) & ~is_fill):
        raise ArtifactError(f"{r.what}: a cluster index exceeds its codebook")
    return np.where(is_fill, table[-1], table[np.minimum(start[book_of] + idx, len(table) - 1)])


def encode_raw_values(vals: np.ndarray, float_dtype: str) -> bytes:
    """``u8 kind`` (0 = own dtype, 1 = fp16) then the bytes."""
    if float_dtype == "fp16" and vals.dtype == np.float32:
        return bytes([1]) + vals.astype(np.float16).tobytes()
    return bytes([0]) + vals.tobytes()


def decode_raw_values(r: Reader, n: int, dtype: np.dtype) -> np.ndarray:
    kind = r.u8()
    if kind == 1:
        return np.frombuffer(r.take(2 * n), np.float16).astype(dtype)
    if kind != 0:
        raise ArtifactError(f"{r.what}: unknown value kind {kind}")
    return np.frombuffer(r.take(n * dtype.itemsize), dtype).copy()


# ---------------------------------------------------------------------------- whole tensors
def as_matrix(t: np.ndarray) -> np.ndarray:
    """(rows, cols) view: output channels × fan-in; 0-d and 1-d tensors are one row."""
    return t.reshape(t.shape[0], -1) if t.ndim >= 2 else t.reshape(1, -1)


def nonzero_mask(m: np.ndarray) -> np.ndarray:
    """True where the bit pattern is not +0.0 (so −0.0 is stored as a value and survives exactly)."""
    return m.view(BITS_OF[m.dtype]) != 0


def encode_dense_codebook(m: np.ndarray, per_channel: bool, opts: CodecOptions) -> tuple[bytes, TensorInfo]:
    rows = np.repeat(np.arange(m.shape[0]), m.shape[1]) if per_channel else np.zeros(0, np.int64)
    body, infos, book = encode_codebook(m.ravel(), rows, m.shape[0], per_channel, None, opts.huffman)
    info = TensorInfo("", [], "", "codebook", m.size, int(nonzero_mask(m).sum()), **book)
    return b"D" + body, _sized(info, 1 + len(body), infos)


def _sized(info: TensorInfo, size: int, streams: list[StreamInfo], extra_fixed: int = 0) -> TensorInfo:
    info.bytes = size
    info.fixed_bytes = size + sum(s.fixed_bytes - s.bytes for s in streams) + extra_fixed
    return info


def encode_csr(m: np.ndarray, mode: str, per_channel: bool, opts: CodecOptions, compacted: bool,
               bits: int) -> tuple[bytes, TensorInfo]:
    """``u8 compacted`` [· live-row bitmap · live-column bitmap] · CSR body with ``bits``-bit gaps.

    Pruning leaves whole rows (dead neurons) and columns (inputs nobody reads, e.g. MNIST's border pixels) empty;
    two bitmaps (rows + cols bits) remove them, so the gaps only span live columns and dead rows cost nothing.
    """
    mask = nonzero_mask(m)
    if compacted:
        live_r, live_c = mask.any(1), mask.any(0)
        head = b"\x01" + np.packbits(live_r).tobytes() + np.packbits(live_c).tobytes()
        payload, info = _csr_body(m[live_r][:, live_c], mask[live_r][:, live_c], mode, per_channel, opts, head, bits)
    else:
        payload, info = _csr_body(m, mask, mode, per_channel, opts, b"\x00", bits)
    info.params = m.size
    return payload, info


def _values_cost(mode: str, dtype: np.dtype, opts: CodecOptions) -> float:
    """Bytes one filler entry costs in the value stream (about one for a Huffman-coded codebook index)."""
    return 1.0 if mode == "codebook" else (2.0 if opts.float_dtype == "fp16" else dtype.itemsize)


def _csr_body(m: np.ndarray, mask: np.ndarray, mode: str, per_channel: bool, opts: CodecOptions,
              head: bytes, b: int) -> tuple[bytes, TensorInfo]:
    """``u8 b · stream(row counts) · stream(gaps) · u8 value mode · values`` for the matrix ``m``."""
    counts, gaps, real = csr.relative_gaps(mask, b)
    rows = np.repeat(np.arange(m.shape[0]), counts)
    vals = np.zeros(len(gaps), dtype=m.dtype)
    vals[real] = m[mask]
    cnt_bytes, cnt_info = encode_stream(counts, int(counts.max(initial=0)) + 1, opts.huffman)
    gap_bytes, gap_info = encode_stream(gaps, 1 << b, opts.huffman)
    streams = [cnt_info, gap_info]
    info = TensorInfo("", [], "", "csr", m.size, int(mask.sum()), bits_gap=b, fillers=int((~real).sum()))
    body = head + bytes([b]) + cnt_bytes + gap_bytes
    if mode == "codebook":
        vbody, vinfos, book = encode_codebook(vals, rows, m.shape[0], per_channel, real, opts.huffman)
        body += b"C" + vbody
        info.codebook, info.books, info.bits_index = book["codebook"], book["books"], book["bits_index"]
        streams += vinfos
    else:
        body += b"R" + encode_raw_values(vals, opts.float_dtype)
    return b"S" + body, _sized(info, 1 + len(body), streams)


def encode_raw(t: torch.Tensor, opts: CodecOptions) -> tuple[bytes, TensorInfo]:
    if opts.float_dtype == "fp16" and t.dtype == torch.float32:
        body = bytes([1]) + t.contiguous().reshape(-1).to(torch.float16).numpy().tobytes()
    else:
        body = bytes([0]) + t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
    nz = int(torch.count_nonzero(t))
    info = TensorInfo("", [], "", "raw", t.numel(), nz, fixed_bytes=1 + len(body), bytes=1 + len(body))
    return b"R" + body, info


def raw_size(t: torch.Tensor, opts: CodecOptions) -> int:
    item = 2 if opts.float_dtype == "fp16" and t.dtype == torch.float32 else t.element_size()
    return 2 + t.numel() * item


@dataclass
class Candidate:
    """One allowed encoding of a tensor: its exact size in bytes, and how to build it."""

    encoding: str
    size: int
    build: Callable[[], tuple[bytes, TensorInfo]]


def candidates(t: torch.Tensor, opts: CodecOptions) -> list[Candidate]:
    """Every encoding ``opts`` allow for ``t``, in order of preference on a tie, each sized from symbol counts
    (:mod:`.sizing`) without building it."""
    t = t.detach().cpu()
    out = [Candidate("raw", raw_size(t, opts), lambda: encode_raw(t, opts))]
    if t.dtype not in (torch.float32, torch.float16) or t.numel() <= 1:
        return out
    m = as_matrix(t.contiguous().numpy())
    mask = nonzero_mask(m)
    if opts.sparse != "always":
        dense = Values.of(m.ravel(), None, m.shape[0])
        pc, ok = book_plan(dense, opts.max_codebook, opts.per_channel)
        if ok:
            size = 1 + codebook_size(dense, pc, opts.huffman)
            out.append(Candidate("codebook", size, lambda: encode_dense_codebook(m, pc, opts)))
    if opts.sparse != "never" and (opts.sparse == "always" or not mask.all()):
        out += _csr_candidates(m, mask, opts)
    return out[1:] if opts.sparse == "always" else out


def _csr_candidates(m: np.ndarray, mask: np.ndarray, opts: CodecOptions) -> list[Candidate]:
    r, c = np.nonzero(mask)
    values = Values.of(m[mask], r, m.shape[0])
    pc, ok = book_plan(values, opts.max_codebook, opts.per_channel)
    layouts = [Layout.of(r, c, m.shape)]
    live_r, live_c = mask.any(1), mask.any(0)
    if not (live_r.all() and live_c.all()) and live_r.any():
        layouts.append(Layout.of(r, c, m.shape, (live_r, live_c)))
    modes = ([("codebook", pc)] if ok else []) + ([("raw", False)] if not ok or pc else [])
    out = []
    for mode, per_channel in modes:
        sized = []
        for layout in layouts:
            b = choose_gap_bits(layout, opts.gap_bits, opts.huffman, _values_cost(mode, m.dtype, opts))
            index, fillers = csr_index_size(layout, b, opts.huffman)
            if mode == "codebook":
                vals = codebook_size(values, per_channel, opts.huffman, fillers, layout.keep_rows)
            else:
                vals = 1 + (len(r) + fillers) * int(_values_cost("raw", m.dtype, opts))
            sized.append((1 + layout.head + index + 1 + vals, layout.keep_rows is not None, b))
        size, compacted, b = min(sized, key=lambda x: x[0])  # the compacted layout only when strictly smaller
        out.append(Candidate("csr", size, lambda mode=mode, pc=per_channel, cp=compacted, b=b:
                             encode_csr(m, mode, pc, opts, cp, b)))
    return out


def encode_tensor(name: str, t: torch.Tensor, opts: CodecOptions) -> tuple[bytes, TensorInfo]:
    """The smallest allowed encoding of ``t`` (see module doc); returns (payload, size-table row).

    Each candidate is sized exactly from symbol counts and only the smallest is built (the first on a tie)."""
    best = min(candidates(t, opts), key=lambda c: c.size)
    payload, info = best.build()
    info.name, info.shape, info.dtype = name, list(t.shape), str(t.dtype).removeprefix("torch.")
    return payload, info


def decode_tensor(payload: bytes, shape: tuple[int, ...], dtype: torch.dtype, what: str) -> torch.Tensor:
    """Inverse of :func:`encode_tensor`; every inconsistency raises :class:`ArtifactError`."""
    r = Reader(payload, what)
    kind = r.take(1)
    numel = int(np.prod(shape, dtype=np.int64))
    if kind == b"R":
        out = _decode_raw(r, numel, dtype)
    elif dtype not in (torch.float32, torch.float16):
        raise ArtifactError(f"{what}: encoding {kind!r} is only valid for float tensors, not {dtype}")
    else:
        npd = np.dtype(np.float32 if dtype == torch.float32 else np.float16)
        rows_n = shape[0] if len(shape) >= 2 else 1
        cols = numel // rows_n if rows_n else 0
        if kind == b"D":
            rows = np.repeat(np.arange(rows_n), cols)
            out = torch.from_numpy(decode_codebook(r, numel, rows, rows_n, npd, filler=False).astype(npd))
        elif kind == b"S":
            out = torch.from_numpy(_decode_csr(r, rows_n, cols, npd))
        else:
            raise ArtifactError(f"{what}: unknown tensor encoding {kind!r}")
    r.done()
    return out.reshape(shape)


def _decode_raw(r: Reader, numel: int, dtype: torch.dtype) -> torch.Tensor:
    kind = r.u8()
    if kind == 1 and dtype == torch.float32:
        return torch.from_numpy(np.frombuffer(r.take(2 * numel), np.float16).astype(np.float32))
    if kind != 0:
        raise ArtifactError(f"{r.what}: unknown raw kind {kind} for {dtype}")
    item = torch.empty(0, dtype=dtype).element_size()
    data = bytearray(r.take(numel * item))
    return torch.frombuffer(data, dtype=dtype) if numel else torch.empty(0, dtype=dtype)


def _decode_csr(r: Reader, rows_n: int, cols: int, npd: np.dtype) -> np.ndarray:
    compacted = r.u8()
    if compacted == 0:
        return _decode_csr_body(r, rows_n, cols, npd)
    if compacted != 1:
        raise ArtifactError(f"{r.what}: unknown CSR layout {compacted}")
    live_r = np.unpackbits(np.frombuffer(r.take((rows_n + 7) // 8), np.uint8))[:rows_n].astype(bool)
    live_c = np.unpackbits(np.frombuffer(r.take((cols + 7) // 8), np.uint8))[:cols].astype(bool)
    out = np.zeros((rows_n, cols), dtype=npd)
    out[np.ix_(live_r, live_c)] = _decode_csr_body(r, int(live_r.sum()), int(live_c.sum()), npd)
    return out


def _decode_csr_body(r: Reader, rows_n: int, cols: int, npd: np.dtype) -> np.ndarray:
    b = r.u8()
    if not 1 <= b <= MAX_GAP_BITS:
        raise ArtifactError(f"{r.what}: gap width {b} outside [1, {MAX_GAP_BITS}]")
    max_entries = rows_n * cols * 2 + 1  # fillers at most double the entries of a full row
    counts, _ = decode_stream(r, rows_n, max_alphabet=max_entries + 1)
    if len(counts) != rows_n:
        raise ArtifactError(f"{r.what}: {len(counts)} row counts for {rows_n} rows")
    gaps, alphabet = decode_stream(r, max_entries, max_alphabet=1 << b)
    if alphabet != 1 << b:
        raise ArtifactError(f"{r.what}: gap alphabet {alphabet} does not match {b}-bit gaps")
    row, col = csr.absolute_positions(counts, gaps, cols)
    mode = r.take(1)
    if mode == b"C":
        vals = decode_codebook(r, len(gaps), row, rows_n, npd, filler=True)
    elif mode == b"R":
        vals = decode_raw_values(r, len(gaps), npd)
    else:
        raise ArtifactError(f"{r.what}: unknown value mode {mode!r}")
    out = np.zeros((rows_n, cols), dtype=npd)
    out[row, col] = vals
    return out


def closed_form_rate(n: int, k: int, b: int = 32) -> float:
    """Deep Compression's rate for an unpruned layer of n weights sharing k values of b bits:
    ``r = n·b / (k·b + n·log2 k)``."""
    return n * b / (k * b + n * np.log2(k))


__all__ = ["CodecOptions", "TensorInfo", "closed_form_rate", "decode_tensor", "encode_tensor", "varint"]
