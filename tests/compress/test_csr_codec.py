"""Relative indexing with filler zeros, per-tensor encodings, bit-exact decoding, and the size accounting."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgevision.compress.evz import csr
from edgevision.compress.evz.codec import CodecOptions, closed_form_rate, decode_tensor, encode_tensor


def bits_equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(
        a.contiguous().reshape(-1).view(torch.uint8), b.contiguous().reshape(-1).view(torch.uint8))


def test_gap_overflow_inserts_filler_zeros() -> None:
    # nonzeros at columns 0 and 20 of a 24-wide row, 3-bit gaps (at most 7 skipped zeros per entry):
    # gap 0 → col 0; 19 zeros to skip = 7 + filler (col 8) + 7 + filler (col 16) + 3 → col 20
    mask = np.zeros((2, 24), dtype=bool)
    mask[0, [0, 20]] = True
    mask[1, 5] = True
    counts, gaps, real = csr.relative_gaps(mask, 3)
    assert counts.tolist() == [4, 1]
    assert gaps.tolist() == [0, 7, 7, 3, 5]
    assert real.tolist() == [True, False, False, True, True]
    rows, cols = csr.absolute_positions(counts, gaps, 24)
    assert rows.tolist() == [0, 0, 0, 0, 1] and cols.tolist() == [0, 8, 16, 20, 5]
    assert csr.filler_count(mask, 3) == 2 and csr.filler_count(mask, 5) == 0


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_relative_indexing_roundtrip(bits: int) -> None:
    mask = np.random.default_rng(bits).random((37, 300)) < 0.07
    mask[3] = False  # an empty row
    counts, gaps, real = csr.relative_gaps(mask, bits)
    assert gaps.max() < 1 << bits
    rows, cols = csr.absolute_positions(counts, gaps, 300)
    rebuilt = np.zeros_like(mask)
    rebuilt[rows[real], cols[real]] = True
    np.testing.assert_array_equal(rebuilt, mask)


def _clustered(shape: tuple[int, ...], k: int, density: float, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    book = torch.linspace(-0.3, 0.3, k)
    w = book[torch.randint(0, k, shape, generator=g)]
    return torch.where(torch.rand(shape, generator=g) < density, w, torch.zeros(()))


CASES = {
    "dense raw": lambda: torch.randn(64, 50),
    "dense shared": lambda: _clustered((64, 50), 32, 1.0),
    "sparse shared": lambda: _clustered((300, 784), 32, 0.05),
    "sparse raw": lambda: torch.where(torch.rand(40, 3, 5, 5) < 0.1, torch.randn(40, 3, 5, 5), torch.zeros(())),
    "per-channel shared": lambda: torch.randn(20, 1, 1, 1) * _clustered((20, 8, 3, 3), 16, 0.5),
    "negative zero": lambda: torch.tensor([[0.0, -0.0, 1.5, -0.0], [2.0, 0.0, 0.0, -1.0]]),
    "fp16": lambda: torch.randn(10, 10).half(),
    "bf16": lambda: torch.randn(10, 10).bfloat16(),
    "int64 scalar": lambda: torch.tensor(123456789),
    "bool": lambda: torch.tensor([True, False, True]),
    "all zero": lambda: torch.zeros(16, 16),
    "dead rows and columns": lambda: _dead(_clustered((60, 90), 16, 0.2)),
}


def _dead(w: torch.Tensor) -> torch.Tensor:
    w[::3] = 0  # dead neurons
    w[:, :40] = 0  # inputs no neuron reads (like MNIST's border pixels)
    return w


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("huffman", [True, False])
def test_tensor_roundtrip_is_bit_exact(case: str, huffman: bool) -> None:
    t = CASES[case]()
    payload, info = encode_tensor("w", t, CodecOptions(huffman=huffman))
    assert info.bytes == len(payload)
    back = decode_tensor(payload, tuple(t.shape), t.dtype, "w")
    assert bits_equal(back, t)


def test_encodings_chosen_and_sized() -> None:
    _, info = encode_tensor("w", CASES["sparse shared"](), CodecOptions())
    assert info.encoding == "csr" and info.codebook == 32 and info.bits_index == 6  # 32 values + the filler symbol
    assert 1 <= info.bits_gap <= 10 and info.bytes < info.fixed_bytes  # Huffman helped
    nnz = info.nonzeros
    assert info.bytes * 8 / nnz < 12  # well under 32 bits per nonzero
    _, info = encode_tensor("w", CASES["dense raw"](), CodecOptions())
    assert info.encoding == "raw" and info.bytes == 1 + 1 + 64 * 50 * 4
    _, info = encode_tensor("w", CASES["sparse shared"](), CodecOptions(sparse="never"))
    assert info.encoding == "codebook"


def test_closed_form_rate_matches_the_packer_on_an_unpruned_layer() -> None:
    """Deep Compression: r = n·b / (k·b + n·log2 k) for n weights sharing k fp32 values (fixed-width indices)."""
    n, k = 300 * 100, 16
    w = torch.linspace(-1, 1, k)[torch.randint(0, k, (300, 100), generator=torch.Generator().manual_seed(0))]
    w[0, :k] = torch.linspace(-1, 1, k)  # every shared value is used
    w += 1e-3  # values not representable in fp16: the codebook is fp32 (b = 32)
    payload, info = encode_tensor("fc", w, CodecOptions(huffman=False))
    assert info.encoding == "codebook" and info.codebook == k
    closed_bytes = (k * 32 + n * np.log2(k)) / 8
    assert closed_bytes <= len(payload) <= closed_bytes + 16  # plus a few header bytes
    measured = n * 32 / (8 * len(payload))
    assert measured == pytest.approx(closed_form_rate(n, k), rel=1e-3)


def test_fp16_option_is_lossy_but_close() -> None:
    t = torch.randn(50, 20)
    payload, info = encode_tensor("w", t, CodecOptions(float_dtype="fp16"))
    back = decode_tensor(payload, (50, 20), torch.float32, "w")
    assert torch.equal(back, t.half().float()) and info.bytes < 50 * 20 * 4 * 0.6


def test_dead_rows_and_columns_are_compacted_away() -> None:
    w = CASES["dead rows and columns"]()
    payload, info = encode_tensor("w", w, CodecOptions())
    assert payload[:2] == b"S\x01"  # the compacted layout (bitmaps of live rows and columns) won
    live = w[[i for i in range(60) if i % 3]][:, 40:]
    _, sub = encode_tensor("w", live.contiguous(), CodecOptions())
    assert info.bytes <= sub.bytes + (60 + 90) // 8 + 4  # costs about the same as the live submatrix alone
