"""The .evz container: bit-exact round trip for every registered model, clean rejection of damaged files."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
import torch

from edgevision.artifacts import Artifact, load_artifact
from edgevision.compress.evz import container as evz
from edgevision.compress.evz.codec import CodecOptions
from edgevision.compress.evz.pack import pack_artifact, size_table
from edgevision.compress.sharing.cluster import cluster_weight
from edgevision.compress.unstructured import criteria
from edgevision.compress.unstructured.targets import compressible, weight
from edgevision.errors import ArtifactError
from edgevision.models import MODELS, build_model, count_params, get_arch

BIG = 2_000_000  # models above this many parameters run in the slow suite


def _model_params() -> dict[str, int]:
    with torch.device("meta"):  # shapes only: no memory, no initialization
        return {e.name: count_params(build_model(e.name)) for e in MODELS}


PARAMS = _model_params()
MODEL_CASES = [pytest.param(n, marks=pytest.mark.slow) if p > BIG else n for n, p in PARAMS.items()]


def compressed(name: str, sparsity: float = 0.8, bits: int = 4, per_channel: bool = False,
               **kwargs) -> torch.nn.Module:
    """A registered model, globally pruned and then weight-shared (what prune → cluster produce)."""
    torch.manual_seed(0)
    m = build_model(name, **kwargs)
    layers = compressible(m)
    masks, _ = criteria.masks_for_sparsity("global", {n: weight(x).detach() for n, x in layers.items()}, sparsity)
    with torch.no_grad():
        for n, layer in layers.items():
            w = weight(layer)
            w.masked_fill_(~masks[n], 0.0)
            w.copy_(cluster_weight(w, bits, "linear", per_channel)[0])
    return m


def artifact(m: torch.nn.Module) -> Artifact:
    task = {"name": "classification", "class_names": ["a", "b"], "label_smoothing": 0.0}
    pre = {"input_size": [28, 28], "channels": 1, "mean": [0.5], "std": [0.5], "scale": 1 / 255}
    return Artifact(m, get_arch(m), task, pre, None, {"note": "test"}, {"stage": "cluster"})


def same_bits(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(
        x.dtype == b[k].dtype and x.shape == b[k].shape
        and torch.equal(x.reshape(-1).view(torch.uint8), b[k].reshape(-1).view(torch.uint8)) for k, x in a.items())


@pytest.mark.parametrize("name", MODEL_CASES)
def test_roundtrip_every_registered_model(name: str) -> None:
    m = compressed(name)
    data, infos = pack_artifact(artifact(m), CodecOptions(gap_bits=4))
    meta, state = evz.read(data)
    assert same_bits(state, m.state_dict())
    assert meta.arch == get_arch(m).to_dict() and meta.meta == {"note": "test"}
    table = size_table(infos, len(data), PARAMS[name] * 4)
    assert table["totals"]["compression_rate"] > 4  # 80 % zeros and 4-bit indices: far below fp32
    shared = [r for r in table["tensors"] if r["name"].endswith("weight") and len(r["shape"]) > 1]
    assert all(r["encoding"] in ("csr", "codebook") and r["codebook"] <= 16 + 1 for r in shared)  # (+1: zero)
    assert any(r["encoding"] == "csr" for r in shared)


def test_per_channel_codebooks_roundtrip() -> None:
    m = compressed("lenet5", sparsity=0.5, bits=3, per_channel=True)
    data, infos = pack_artifact(artifact(m), CodecOptions())
    assert same_bits(evz.read(data)[1], m.state_dict())
    fc1 = next(i for i in infos if i.name == "fc1.weight")
    assert fc1.books == 500 and fc1.codebook <= 8  # one book of ≤ 8 shared values per output neuron


def test_load_artifact_runs_the_decoded_model(tmp_path) -> None:
    m = compressed("lenet5").eval()
    data, _ = pack_artifact(artifact(m), CodecOptions())
    path = evz.write(tmp_path / "m.evz", data)
    art = load_artifact(path)
    x = torch.randn(2, 1, 28, 28)
    assert torch.equal(art.model(x), m(x))
    assert art.task["name"] == "classification" and art.input_shape == (1, 28, 28) and art.card["stage"] == "cluster"


@pytest.fixture(scope="module")
def small() -> tuple[bytes, dict[str, torch.Tensor]]:
    m = compressed("hinton_mlp", hidden=(24,), input_size=8, num_classes=4)
    data, _ = pack_artifact(artifact(m), CodecOptions())
    return data, m.state_dict()


def test_rejections_name_the_problem(small) -> None:
    data, _ = small
    with pytest.raises(ArtifactError, match=r"not an edgevision \.evz"):
        evz.read(b"PK\x03\x04" + data[4:], "x.evz")
    future = bytearray(data)
    struct.pack_into("<H", future, 8, 2)
    with pytest.raises(ArtifactError, match="version 2 is not supported"):
        evz.read(bytes(future), "x.evz")
    with pytest.raises(ArtifactError, match="truncated"):
        evz.read(data[:-10], "x.evz")
    with pytest.raises(ArtifactError, match="unexpected bytes"):
        evz.read(data + b"\0", "x.evz")
    flipped = bytearray(data)
    flipped[-5] ^= 0x40
    with pytest.raises(ArtifactError, match="section DATA is corrupt"):
        evz.read(bytes(flipped), "x.evz")
    with pytest.raises(ArtifactError, match="no such file"):
        evz.read_file("/nonexistent/m.evz")


def test_malformed_sections_with_valid_checksums_are_rejected(small) -> None:
    """Damage that passes the CRCs (a crafted file) is still caught by the decoders' own checks."""
    data, _ = small
    sections = evz.split_sections(data, "x")
    table = __import__("json").loads(zlib.decompress(sections[b"TENS"]))
    table[0]["shape"] = [table[0]["shape"][0] + 1, *table[0]["shape"][1:]]
    meta = __import__("json").loads(zlib.decompress(sections[b"META"]))
    meta.pop("format")
    tensors_blob = sections[b"DATA"]
    for bad_meta, bad_table in ((meta, None), (None, table)):
        m = bad_meta or __import__("json").loads(zlib.decompress(sections[b"META"]))
        t = bad_table or __import__("json").loads(zlib.decompress(sections[b"TENS"]))
        blob = _rebuild(m, t, tensors_blob)
        with pytest.raises(ArtifactError):
            evz.read(blob, "x")


def _rebuild(meta: dict, table: list, blob: bytes) -> bytes:
    secs = [(b"META", zlib.compress(__import__("json").dumps(meta).encode())),
            (b"TENS", zlib.compress(__import__("json").dumps(table).encode())), (b"DATA", blob)]
    head = struct.pack("<HH", evz.FORMAT_VERSION, 3) + b"".join(
        struct.pack("<4sQI", k, len(b), zlib.crc32(b)) for k, b in secs)
    return evz.MAGIC + head + struct.pack("<I", zlib.crc32(head)) + b"".join(b for _, b in secs)


@pytest.mark.timeout(120)
def test_fuzz_flips_and_truncations(small) -> None:
    """2,000 random byte flips or truncations: a clean ArtifactError or bit-exact weights, never anything else."""
    data, state = small
    rng = np.random.default_rng(1234)
    outcomes = {"rejected": 0, "exact": 0}
    for i in range(2000):
        buf = bytearray(data)
        if i % 4 == 3:
            buf = buf[: int(rng.integers(0, len(buf)))]
        else:
            for _ in range(int(rng.integers(1, 4))):
                buf[int(rng.integers(0, len(buf)))] ^= int(rng.integers(1, 256))
        try:
            _, got = evz.read(bytes(buf), "fuzz.evz")
        except ArtifactError:
            outcomes["rejected"] += 1
            continue
        assert same_bits(got, state), f"mutation {i} decoded to different weights without an error"
        outcomes["exact"] += 1
    assert outcomes["rejected"] >= 1990  # every byte is under a CRC-32, so essentially all damage is caught
