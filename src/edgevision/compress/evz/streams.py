"""Integer streams: a sequence of symbols in ``[0, A)`` stored fixed-width or Huffman-coded, whichever is smaller.

Layout: ``varint n · varint A · u8 mode`` then, for mode 0 (fixed), ``⌈n·⌈log2 A⌉/8⌉`` bytes; for mode 1
(Huffman), the canonical table, ``varint n_bits`` and ``⌈n_bits/8⌉`` bytes. :class:`StreamInfo` records both
sizes, which is what the size table reports as "before" and "after" Huffman.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import ArtifactError
from . import huffman
from .bitio import MAX_WIDTH, Reader, read_fixed, varint, width_for, write_bits

MAX_ALPHABET = 1 << MAX_WIDTH


@dataclass(frozen=True)
class StreamInfo:
    """Sizes of one encoded stream, in bytes (``fixed_bytes`` = the same stream without Huffman)."""

    n: int
    alphabet: int
    width: int
    fixed_bytes: int
    bytes: int
    huffman: bool


def _header(n: int, alphabet: int, mode: int) -> bytes:
    return varint(n) + varint(alphabet) + bytes([mode])


def fixed_size(n: int, alphabet: int) -> int:
    return len(_header(n, alphabet, 0)) + (n * width_for(alphabet) + 7) // 8


def huffman_size(freqs: np.ndarray, n: int) -> tuple[int, np.ndarray]:
    """Exact stream size with Huffman coding, computed from frequencies alone (no encoding)."""
    lengths = huffman.code_lengths(freqs)
    n_bits = huffman.encoded_bits(freqs, lengths, is_freqs=True)
    size = len(_header(n, len(freqs), 1)) + len(huffman.write_table(lengths)) + len(varint(n_bits)) + (n_bits + 7) // 8
    return size, lengths


def stream_size(freqs: np.ndarray, alphabet: int, use_huffman: bool = True) -> int:
    """Exact size of :func:`encode_stream` from the symbol counts alone (``freqs[s]`` = occurrences of s)."""
    freqs = np.asarray(freqs, dtype=np.int64)
    if len(freqs) < alphabet:
        freqs = np.pad(freqs, (0, alphabet - len(freqs)))
    n = int(freqs.sum())
    fixed = fixed_size(n, alphabet)
    if not use_huffman or n == 0 or alphabet > huffman.MAX_ALPHABET:
        return fixed
    return min(fixed, huffman_size(freqs[:alphabet], n)[0])


def best_size(symbols: np.ndarray, alphabet: int, use_huffman: bool = True) -> int:
    """Size of :func:`encode_stream` without building the bytes."""
    return stream_size(np.bincount(np.asarray(symbols, dtype=np.int64).ravel(), minlength=alphabet), alphabet,
                       use_huffman)


def encode_stream(symbols: np.ndarray, alphabet: int, use_huffman: bool = True) -> tuple[bytes, StreamInfo]:
    """Encode ``symbols`` (ints in ``[0, alphabet)``) choosing the smaller of fixed-width and Huffman.

    Both sizes come from the symbol counts (:func:`fixed_size`, :func:`huffman_size`); only the smaller
    stream is built (fixed-width on a tie)."""
    symbols = np.asarray(symbols).ravel()
    if not 1 <= alphabet <= MAX_ALPHABET:
        raise ValueError(f"alphabet size {alphabet} outside [1, {MAX_ALPHABET}]")
    if symbols.size and (symbols.min() < 0 or symbols.max() >= alphabet):
        raise ValueError(f"symbols outside [0, {alphabet})")
    n, width = len(symbols), width_for(alphabet)
    fixed = fixed_size(n, alphabet)
    if use_huffman and n and alphabet <= huffman.MAX_ALPHABET:
        size, lengths = huffman_size(np.bincount(symbols, minlength=alphabet), n)
        if size < fixed:
            data, n_bits = huffman.encode(symbols, lengths)
            best = _header(n, alphabet, 1) + huffman.write_table(lengths) + varint(n_bits) + data
            return best, StreamInfo(n, alphabet, width, fixed, len(best), True)
    best = _header(n, alphabet, 0) + write_bits(symbols, width)[0]
    return best, StreamInfo(n, alphabet, width, fixed, len(best), False)


def decode_stream(r: Reader, max_n: int, max_alphabet: int = MAX_ALPHABET) -> tuple[np.ndarray, int]:
    """Read one stream; returns (symbols, alphabet). Counts are bounded by the caller's limits."""
    n = r.varint(max_n)
    alphabet = r.varint(max_alphabet)
    if alphabet < 1:
        raise ArtifactError(f"{r.what}: stream alphabet is empty")
    mode = r.u8()
    if mode == 0:
        width = width_for(alphabet)
        symbols = read_fixed(r.take((n * width + 7) // 8), n, width)
    elif mode == 1:
        lengths = huffman.read_table(r, alphabet)
        if len(lengths) != alphabet:
            raise ArtifactError(f"{r.what}: Huffman table for {len(lengths)} symbols, stream alphabet {alphabet}")
        n_bits = r.varint(n * huffman.MAX_LEN)
        symbols = huffman.decode(r.take((n_bits + 7) // 8), n_bits, n, lengths)
    else:
        raise ArtifactError(f"{r.what}: unknown stream mode {mode}")
    if symbols.size and symbols.max() >= alphabet:
        raise ArtifactError(f"{r.what}: symbol outside the stream's alphabet")
    return symbols, alphabet
