"""Byte flips and truncations of a ``model.pt``, an exported ``.onnx`` and a face gallery ``.db``: no crash, no
hang, no silent change — every damaged file loads to exactly the original contents (the damage hit bytes that
are never read) or fails with one clean EdgevisionError line. A few hundred cases each run in the fast suite,
10,000 in the slow one (as the ``.evz`` fuzz test does for its container)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from conftest import tiny_data
from edgevision.artifacts import load_artifact, save_model
from edgevision.errors import EdgevisionError
from edgevision.faces.gallery import Gallery
from edgevision.models import build_model

PRE = {"input_size": [16, 16], "channels": 3, "mean": [0.5, 0.4, 0.3], "std": [0.25, 0.2, 0.2], "scale": 1 / 255}
TASK = {"name": "classification", "class_names": ["a", "b", "c"]}
COUNTS = [300, pytest.param(10_000, marks=pytest.mark.slow)]


def mutations(data: bytes, n: int, seed: int):
    """``n`` damaged copies of ``data``: every 4th truncated at a random length, the others 1–3 bytes XOR-ed."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        buf = bytearray(data)
        if i % 4 == 3:
            buf = buf[: int(rng.integers(0, len(buf)))]
        else:
            for _ in range(int(rng.integers(1, 4))):
                buf[int(rng.integers(0, len(buf)))] ^= int(rng.integers(1, 256))
        yield i, bytes(buf)


def fuzz(data: bytes, n: int, seed: int, path, load, same) -> dict[str, int]:
    """Write each mutation to ``path``; ``load(path)`` must raise one clean line or give what ``same`` accepts."""
    counts = {"rejected": 0, "exact": 0}
    for i, buf in mutations(data, n, seed):
        path.write_bytes(buf)
        try:
            got = load(path)
        except EdgevisionError as e:
            assert "\n" not in str(e) and str(path) in str(e), f"mutation {i}: {e!r}"
            counts["rejected"] += 1
            continue
        assert same(got), f"mutation {i} loaded different contents without an error"
        counts["exact"] += 1
    return counts


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    torch.manual_seed(0)
    m = build_model("student_cnn", width=4, depth=2, num_classes=3)
    path = save_model(tmp_path_factory.mktemp("pt") / "model.pt", m, task=TASK, preprocess=PRE,
                      meta={"data": tiny_data(size=16, classes=3), "stage": "train"})
    return path, m.state_dict()


@pytest.mark.timeout(900)
@pytest.mark.parametrize("n", COUNTS)
def test_fuzz_model_pt(model_file, tmp_path, n):
    path, ref = model_file

    def same(art) -> bool:
        got = art.model.state_dict()
        return (got.keys() == ref.keys() and all(torch.equal(got[k], ref[k]) for k in ref)
                and art.preprocess == PRE and art.task == TASK and art.meta["stage"] == "train")

    counts = fuzz(path.read_bytes(), n, 1, tmp_path / "damaged.pt", load_artifact, same)
    assert counts["rejected"] > 0.7 * n  # most bytes are read (header, pickle, tensors); the rest must be exact


@pytest.fixture(scope="module")
def onnx_file(model_file, tmp_path_factory):
    import edgevision

    res = edgevision.export(model_file[0], out=tmp_path_factory.mktemp("onnx") / "export", engines=["onnxruntime"])
    path = res.artifact
    proto = onnx.load(str(path))
    weights = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    return path, weights, {p.key: p.value for p in proto.metadata_props}


@pytest.mark.timeout(900)
@pytest.mark.parametrize("n", COUNTS)
def test_fuzz_onnx(onnx_file, tmp_path, n):
    path, weights, props = onnx_file
    damaged = tmp_path / "damaged.onnx"

    def same(art) -> bool:
        proto = onnx.load(str(damaged))
        got = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
        return (got.keys() == weights.keys() and all(np.array_equal(got[k], weights[k]) for k in weights)
                and {p.key: p.value for p in proto.metadata_props} == props and art.preprocess == PRE)

    counts = fuzz(path.read_bytes(), n, 2, damaged, load_artifact, same)
    assert counts["rejected"] > 0.9 * n


@pytest.fixture(scope="module")
def gallery_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("db") / "faces.db"
    rng = np.random.default_rng(0)
    emb = rng.standard_normal((9, 8)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    names = ["Ada Lovelace"] * 3 + ["Grace Hopper"] * 3 + ["Zoë"] * 3
    with Gallery(path, "model-1", 8, model_name="face_cnn") as g:
        g.add_many(names, emb)
        g.set_meta("threshold", "0.45")
    return path, names, emb


def _read_gallery(path):
    with Gallery(path, "model-1", 8, create=False) as g:
        names, emb = g.load()
        return names, emb, g.meta()


@pytest.mark.timeout(900)
@pytest.mark.parametrize("n", COUNTS)
def test_fuzz_gallery_db(gallery_file, tmp_path, n):
    path, names, emb = gallery_file
    meta = _read_gallery(path)[2]

    def same(got) -> bool:
        return got[0] == names and np.array_equal(got[1], emb) and got[2] == meta

    counts = fuzz(path.read_bytes(), n, 3, tmp_path / "damaged.db", _read_gallery, same)
    assert counts["rejected"] > 0.2 * n  # SQLite pages are mostly free space; what is read is checked


def test_old_files_without_checksums_still_load(model_file, tmp_path):
    """Files written before checksums (model.pt version 1, galleries without the crc column) load as before."""
    import sqlite3

    path, ref = model_file
    data = torch.load(path, weights_only=True)
    data.pop("checksum")
    data["version"] = 1
    torch.save(data, tmp_path / "old.pt")
    got = load_artifact(tmp_path / "old.pt").model.state_dict()
    assert all(torch.equal(got[k], ref[k]) for k in ref)
    db = tmp_path / "old.db"
    con = sqlite3.connect(db)
    con.executescript("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                      "CREATE TABLE faces (id INTEGER PRIMARY KEY, name TEXT NOT NULL, embedding BLOB NOT NULL,"
                      " source TEXT NOT NULL DEFAULT '', created REAL NOT NULL);")
    con.executemany("INSERT INTO meta VALUES (?, ?)", [("model_id", "model-1"), ("dim", "8")])
    con.execute("INSERT INTO faces(name, embedding, created) VALUES (?, ?, 0)",
                ("Ada", np.ones(8, np.float32).tobytes()))
    con.commit()
    con.close()
    names, emb, _ = _read_gallery(db)
    assert names == ["Ada"] and emb.shape == (1, 8)
