"""Vectorized bit packing, varints and a bounds-checked byte reader (the primitives of the ``.evz`` codecs).

Bit order is MSB-first within a byte (as in JPEG and Deep Compression's figures). Codes of up to
:data:`MAX_WIDTH` bits are written without a per-symbol Python loop: symbol *i* starts at bit
``o_i = Σ_{j<i} len_j`` and touches at most four bytes, so each byte's content is the sum of the disjoint
pieces that land in it, gathered with ``np.bincount`` (chunk by chunk, so memory stays bounded). Reading a
code at any bit offset is one gather from a big-endian 32-bit window:
``(u32[o >> 3] >> (32 − w − (o & 7))) & (2^w − 1)``.
"""

from __future__ import annotations

import numpy as np

from ...errors import ArtifactError

MAX_WIDTH = 25  # a code plus a 7-bit misalignment must fit in one 32-bit window


CHUNK = 1 << 18  # symbols per vectorized pass: work and memory go by chunks, never by the whole stream


def write_bits(codes: np.ndarray, lengths: np.ndarray | int) -> tuple[bytes, int]:
    """Concatenate ``codes[i]`` written with ``lengths[i]`` bits each (MSB first); return (bytes, n_bits)."""
    codes = np.asarray(codes).ravel()
    lens = np.broadcast_to(np.asarray(lengths, dtype=np.int64), codes.shape)
    if codes.size == 0:
        return b"", 0
    _check_lengths(int(lens.min()), int(lens.max()))
    n_bits = int(lens.sum(dtype=np.int64))
    return _write(n_bits, ((codes[lo : lo + CHUNK].astype(np.int64), lens[lo : lo + CHUNK])
                           for lo in range(0, codes.size, CHUNK))), n_bits


def write_symbols(symbols: np.ndarray, code_of: np.ndarray, length_of: np.ndarray) -> tuple[bytes, int]:
    """Write symbol ``s`` as ``code_of[s]`` in ``length_of[s]`` bits, for every symbol (a prefix code's encoder);
    the tables are looked up chunk by chunk, so no per-symbol code or length array of the whole stream exists."""
    symbols = np.asarray(symbols).ravel()
    if symbols.size == 0:
        return b"", 0
    code_of, length_of = np.asarray(code_of, dtype=np.int64), np.asarray(length_of, dtype=np.int64)
    freq = np.bincount(symbols, minlength=len(length_of))
    if len(freq) > len(length_of) or symbols.min() < 0:
        raise ValueError(f"symbols outside [0, {len(length_of)})")
    used = length_of[freq > 0]
    _check_lengths(int(used.min()), int(used.max()))
    n_bits = int(np.dot(freq, length_of))
    chunks = ((code_of[part], length_of[part]) for part in
              (symbols[lo : lo + CHUNK] for lo in range(0, symbols.size, CHUNK)))
    return _write(n_bits, chunks), n_bits


def _check_lengths(lo: int, hi: int) -> None:
    if hi > MAX_WIDTH or lo < 0:
        raise ValueError(f"code lengths must be in [0, {MAX_WIDTH}]")


def _write(n_bits: int, chunks) -> bytes:
    n_bytes = (n_bits + 7) // 8
    out = np.zeros(n_bytes + 4, dtype=np.uint8)
    offset = 0
    for codes, lens in chunks:
        offset = _put(out, codes, lens, offset)
    return out[:n_bytes].tobytes()


def _put(out: np.ndarray, codes: np.ndarray, lens: np.ndarray, offset: int) -> int:
    """OR one chunk of codes into ``out`` starting at bit ``offset``; returns the bit offset after it."""
    ends = np.cumsum(lens) + offset
    starts = ends - lens
    shift = 32 - lens - (starts & 7)  # left-align the code inside a 4-byte window starting at byte starts >> 3
    v = (codes & ((np.int64(1) << lens) - 1)) << shift
    first = offset >> 3
    byte = (starts >> 3) - first
    span = int(byte[-1]) + 4
    acc = np.zeros(span, dtype=np.float64)
    for k in range(4):  # the pieces of different codes never overlap, so summing per byte is an exact OR
        acc += np.bincount(byte + k, weights=(v >> (24 - 8 * k)) & 0xFF, minlength=span)[:span]
    out[first : first + span] += acc.astype(np.uint8)  # a byte begun by the previous chunk gets the rest
    return int(ends[-1])


def windows(data: bytes | np.ndarray, offsets: np.ndarray, width: int) -> np.ndarray:
    """The ``width``-bit big-endian integer starting at each bit offset (bits past the end read as 0)."""
    if not 0 < width <= MAX_WIDTH:
        raise ValueError(f"window width must be in [1, {MAX_WIDTH}]")
    b = np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes | bytearray | memoryview) else data
    b = np.concatenate([b, np.zeros(4, np.uint8)]).astype(np.uint32)
    u32 = (b[:-3] << 24) | (b[1:-2] << 16) | (b[2:-1] << 8) | b[3:]  # window at every byte offset
    offsets = np.asarray(offsets, dtype=np.int64)
    shift = (32 - width - (offsets & 7)).astype(np.uint32)
    return ((u32[offsets >> 3] >> shift) & np.uint32((1 << width) - 1)).astype(np.int64)


def read_fixed(data: bytes, n: int, width: int) -> np.ndarray:
    """Inverse of ``write_bits(values, width)`` for ``n`` values."""
    if n == 0:
        return np.zeros(0, np.int64)
    if width == 0:
        return np.zeros(n, np.int64)
    if len(data) * 8 < n * width:
        raise ArtifactError(f"bit stream too short: {len(data)} bytes for {n} values of {width} bits")
    return windows(data, np.arange(n, dtype=np.int64) * width, width)


def width_for(alphabet: int) -> int:
    """Bits of a fixed-width code for symbols in ``[0, alphabet)``: ⌈log2 alphabet⌉ (0 for a 1-symbol alphabet)."""
    return max(int(alphabet) - 1, 0).bit_length()


def varint(n: int) -> bytes:
    """Unsigned LEB128."""
    if n < 0:
        raise ValueError("varint of a negative number")
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


class Reader:
    """Sequential reads from a byte buffer; every overrun or malformed field raises :class:`ArtifactError`."""

    def __init__(self, data: bytes, what: str = "payload") -> None:
        self.data, self.pos, self.what = data, 0, what

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ArtifactError(f"{self.what}: truncated (needs {n} bytes at offset {self.pos}, has "
                                f"{len(self.data) - self.pos})")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def varint(self, limit: int = 1 << 40) -> int:
        n, shift = 0, 0
        while True:
            byte = self.u8()
            n |= (byte & 0x7F) << shift
            if not byte & 0x80:
                break
            shift += 7
            if shift > 63:
                raise ArtifactError(f"{self.what}: malformed varint at offset {self.pos}")
        if n > limit:
            raise ArtifactError(f"{self.what}: value {n} exceeds its limit {limit} at offset {self.pos}")
        return n

    def done(self) -> None:
        if self.pos != len(self.data):
            raise ArtifactError(f"{self.what}: {len(self.data) - self.pos} unexpected trailing bytes")
