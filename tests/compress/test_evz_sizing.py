"""``pack`` sizes every candidate encoding from symbol counts and builds only the smallest: the sizes must be
exact and the bytes identical to building every candidate (and to the files earlier versions wrote)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from edgevision.compress.evz.codec import CodecOptions, candidates, encode_tensor

DIGESTS = Path(__file__).with_name("evz_digests.json")


def _clustered(rng: np.random.Generator, shape: tuple[int, ...], k: int, density: float) -> np.ndarray:
    book = np.linspace(-0.3, 0.3, k, dtype=np.float32) + np.float32(1e-3)
    w = book[rng.integers(0, k, shape)]
    return np.where(rng.random(shape) < density, w, np.float32(0)).astype(np.float32)


def _tensor_cases() -> dict[str, torch.Tensor]:
    rng = np.random.default_rng(7)
    t = torch.from_numpy
    dead = _clustered(rng, (60, 90), 16, 0.2)
    dead[::3] = 0
    dead[:, :40] = 0
    signed = _clustered(rng, (8, 12), 4, 0.5)
    signed[0, :3] = -0.0
    signed[1, 1] = np.frombuffer(np.uint32(0x7FC00123).tobytes(), np.float32)[0]  # a NaN with a payload
    wide = rng.standard_normal((4, 600)).astype(np.float32)
    wide[:, ::2] = 0
    return {
        "sparse shared fc": t(_clustered(rng, (300, 784), 32, 0.05)),
        "sparse shared conv": t(_clustered(rng, (64, 32, 3, 3), 16, 0.1)),
        "dense shared": t(_clustered(rng, (64, 50), 32, 1.0)),
        "per-channel shared": t(rng.standard_normal((20, 1, 1, 1)).astype(np.float32)
                                * _clustered(rng, (20, 8, 3, 3), 16, 0.5)),
        "sparse raw": t(np.where(rng.random((40, 3, 5, 5)) < 0.1, rng.standard_normal((40, 3, 5, 5)),
                                 0).astype(np.float32)),
        "dense raw": t(rng.standard_normal((64, 50)).astype(np.float32)),
        "dead rows and columns": t(dead),
        "long gaps": t(_clustered(rng, (100, 5000), 8, 0.002)),
        "signed zero and nan": t(signed),
        "fp16 sparse shared": t(_clustered(rng, (50, 70), 8, 0.3)).half(),
        "wide rows, unshared": t(wide),
        "sparse bias": t(_clustered(rng, (300,), 4, 0.3)),
        "all zero": torch.zeros(16, 16),
        "one element": torch.tensor([0.25]),
        "empty": torch.zeros(0, 5),
        "scalar": torch.tensor(1.5),
        "bf16": t(rng.standard_normal((10, 10)).astype(np.float32)).bfloat16(),
        "int64": torch.arange(-5, 20),
        "bool": torch.tensor([True, False, True]),
    }


OPTIONS = {
    "default": CodecOptions(),
    "no huffman": CodecOptions(huffman=False),
    "gap bits 4": CodecOptions(gap_bits=4),
    "sparse always": CodecOptions(sparse="always"),
    "sparse never": CodecOptions(sparse="never"),
    "per channel": CodecOptions(per_channel=True),
    "per tensor": CodecOptions(per_channel=False),
    "small codebook": CodecOptions(max_codebook=8),
    "fp16 floats": CodecOptions(float_dtype="fp16"),
}


def _model_states() -> dict[str, dict[str, torch.Tensor]]:
    from test_evz import compressed

    return {"lenet300_100 90%/5 bit": compressed("lenet300_100", 0.9, 5).state_dict(),
            "lenet5 80%/4 bit per channel": compressed("lenet5", 0.8, 4, per_channel=True).state_dict(),
            "resnet8 70%/4 bit": compressed("resnet8", 0.7, 4).state_dict()}


def digest(payload: bytes, info_dict: dict) -> str:
    return hashlib.sha256(payload + json.dumps(info_dict, sort_keys=True).encode()).hexdigest()


def current_digests() -> dict[str, str]:
    """sha256 of (payload, size-table row) of every case under every option set."""
    out = {}
    for case, t in _tensor_cases().items():
        for opt, o in OPTIONS.items():
            payload, info = encode_tensor("w", t, o)
            out[f"{case} | {opt}"] = digest(payload, info.to_dict())
    for model, state in _model_states().items():
        for opt in ("default", "sparse always", "no huffman"):
            h = hashlib.sha256()
            for name, t in state.items():
                payload, info = encode_tensor(name, t, OPTIONS[opt])
                h.update(digest(payload, info.to_dict()).encode())
            out[f"{model} | {opt}"] = h.hexdigest()
    return out


def test_bytes_identical_to_earlier_files() -> None:
    """The digests were recorded with the codec that built every candidate encoding and kept the smallest."""
    want = json.loads(DIGESTS.read_text())
    got = current_digests()
    assert got.keys() == want.keys()
    changed = [k for k in want if got[k] != want[k]]
    assert not changed, f"encodings changed for: {changed}"


@pytest.mark.parametrize("opt", list(OPTIONS))
def test_every_candidate_size_is_exact(opt: str) -> None:
    """Sizing from counts equals the built payload for every allowed encoding, so building each one and
    keeping the smallest (what pack did before) picks the same bytes as building only the smallest."""
    for case, t in _tensor_cases().items():
        built = [(c.size, c.build()) for c in candidates(t, OPTIONS[opt])]
        for size, (payload, info) in built:
            assert size == len(payload) == info.bytes, f"{case}: {info.encoding} sized {size}, built {len(payload)}"
        smallest = min(built, key=lambda b: len(b[1][0]))[1][0]
        assert encode_tensor("w", t, OPTIONS[opt])[0] == smallest, case
