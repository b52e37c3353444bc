"""Canonical Huffman coding: optimality, round trips on skewed and uniform data, length limits, tables, speed."""

from __future__ import annotations

import time

import numpy as np
import pytest

from edgevision.compress.evz import huffman
from edgevision.compress.evz.bitio import Reader, read_fixed, write_bits
from edgevision.compress.evz.streams import decode_stream, encode_stream
from edgevision.errors import ArtifactError


def _entropy(freqs: np.ndarray) -> float:
    p = freqs[freqs > 0] / freqs.sum()
    return float(-(p * np.log2(p)).sum())


def _roundtrip(symbols: np.ndarray, alphabet: int) -> tuple[np.ndarray, float]:
    lengths = huffman.code_lengths(np.bincount(symbols, minlength=alphabet))
    data, n_bits = huffman.encode(symbols, lengths)
    out = huffman.decode(data, n_bits, len(symbols), lengths)
    return out, n_bits / len(symbols)


@pytest.mark.parametrize("kind", ["skewed", "uniform"])
def test_roundtrip_and_near_entropy(kind: str) -> None:
    rng = np.random.default_rng(0)
    syms = (np.minimum(rng.geometric(0.35, 20_000) - 1, 63) if kind == "skewed" else rng.integers(0, 32, 20_000))
    out, bits_per_symbol = _roundtrip(syms, 64)
    np.testing.assert_array_equal(out, syms)
    h = _entropy(np.bincount(syms, minlength=64))
    assert h <= bits_per_symbol < h + 1  # Huffman is within one bit of the entropy
    if kind == "uniform":
        assert bits_per_symbol == 5.0  # 32 equiprobable symbols: exactly 5 bits


def test_lengths_are_optimal_on_a_textbook_case() -> None:
    # frequencies 45, 13, 12, 16, 9, 5 (CLRS 16.3): cost 224 with lengths 1, 3, 3, 3, 4, 4
    lengths = huffman.code_lengths(np.array([45, 13, 12, 16, 9, 5]))
    assert int(np.dot(lengths, [45, 13, 12, 16, 9, 5])) == 224
    assert sorted(lengths.tolist()) == [1, 3, 3, 3, 4, 4]


def test_canonical_codes_are_prefix_free_and_ordered() -> None:
    lengths = np.array([2, 1, 3, 3, 0])
    codes = huffman.canonical_codes(lengths)
    # RFC 1951 example style: shorter codes first, then by symbol
    assert codes.tolist() == [0b10, 0b0, 0b110, 0b111, 0]
    words = [format(c, f"0{n}b") for c, n in zip(codes, lengths) if n]
    assert not any(a != b and b.startswith(a) for a in words for b in words)


def test_length_limit_on_fibonacci_frequencies() -> None:
    fib = [1, 1]
    while len(fib) < 30:
        fib.append(fib[-1] + fib[-2])
    freqs = np.array(fib[::-1])
    unlimited_depth = 29  # Fibonacci weights give a maximally deep tree
    lengths = huffman.code_lengths(freqs)
    assert lengths.max() == huffman.MAX_LEN < unlimited_depth
    assert huffman.kraft_ok(lengths)
    syms = np.repeat(np.arange(30), np.minimum(freqs, 500))
    out, _ = _roundtrip(syms, 30)
    np.testing.assert_array_equal(out, syms)


def test_single_and_empty_streams() -> None:
    out, bps = _roundtrip(np.full(100, 7), 8)
    assert (out == 7).all() and bps == 1.0
    assert len(huffman.decode(b"", 0, 0, np.array([1, 1]))) == 0


@pytest.mark.parametrize("alphabet,used", [(16, 16), (4096, 5)])
def test_table_serialization(alphabet: int, used: int) -> None:
    freqs = np.zeros(alphabet, dtype=np.int64)
    freqs[np.linspace(0, alphabet - 1, used).astype(int)] = np.arange(1, used + 1) ** 2
    lengths = huffman.code_lengths(freqs)
    blob = huffman.write_table(lengths)
    assert blob[0] == (0 if used == alphabet else 1)  # nibbles for dense alphabets, symbol lists for sparse ones
    np.testing.assert_array_equal(huffman.read_table(Reader(blob), alphabet), lengths)
    if used < alphabet:
        assert len(blob) < alphabet // 2  # much smaller than one nibble per symbol


def test_decode_rejects_garbage() -> None:
    lengths = np.array([1, 2, 0, 0])  # incomplete code: windows starting with 11 are invalid
    with pytest.raises(ArtifactError):
        huffman.decode(b"\xff\xff", 16, 8, lengths)
    data, n_bits = huffman.encode(np.array([0, 1, 0, 1]), lengths)
    with pytest.raises(ArtifactError):
        huffman.decode(data, n_bits, 5, lengths)  # asks for more symbols than encoded
    with pytest.raises(ArtifactError):
        huffman.decode(data, n_bits + 3, 4, lengths)  # recorded length disagrees with the symbols


def test_fixed_width_bits() -> None:
    vals = np.array([0, 5, 31, 17, 2])
    data, n_bits = write_bits(vals, 5)
    assert n_bits == 25 and len(data) == 4
    np.testing.assert_array_equal(read_fixed(data, 5, 5), vals)


def test_stream_picks_the_smaller_coding() -> None:
    rng = np.random.default_rng(1)
    skewed = np.minimum(rng.geometric(0.6, 5000) - 1, 15)
    blob, info = encode_stream(skewed, 16)
    assert info.huffman and info.bytes < info.fixed_bytes
    syms, alphabet = decode_stream(Reader(blob), 10**6)
    np.testing.assert_array_equal(syms, skewed)
    assert alphabet == 16
    _, info = encode_stream(skewed, 16, use_huffman=False)
    assert not info.huffman and info.bytes == info.fixed_bytes


def test_half_a_million_symbols_is_fast() -> None:
    rng = np.random.default_rng(2)
    syms = np.minimum(rng.geometric(0.25, 500_000) - 1, 31)
    t0 = time.perf_counter()
    out, _ = _roundtrip(syms, 32)
    elapsed = time.perf_counter() - t0
    np.testing.assert_array_equal(out, syms)
    assert elapsed < 5.0, f"encode+decode of 0.5M symbols took {elapsed:.2f}s"


def test_decoding_across_chunk_boundaries(monkeypatch) -> None:
    monkeypatch.setattr(huffman, "CHUNK_BITS", 61)  # force many chunks, boundaries inside codes
    rng = np.random.default_rng(3)
    syms = np.minimum(rng.geometric(0.3, 3000) - 1, 20)
    out, _ = _roundtrip(syms, 21)
    np.testing.assert_array_equal(out, syms)
