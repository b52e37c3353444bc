"""The litert engine: a ``.tflite`` file with edgevision's metadata loads as an artifact and runs in ``eval``,
``predict``, ``profile``, ``bench`` and ``demo``. The file is written inside the test with LiteRT's own schema (the
graph of ``hinton_mlp(hidden=[])``, weights copied from a trained artifact), so only LiteRT's interpreter is needed
(``ai-edge-litert``: the ``[litert]`` or ``[teachers]`` extra; ``make test-extras`` runs these)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

import edgevision as ev
from conftest import tiny_data
from edgevision.apps.engines import make_engine
from edgevision.artifacts import load_artifact
from edgevision.cli import main
from edgevision.deploy import litert
from edgevision.deploy.export import onnx_metadata
from edgevision.deploy.litert_runtime import LiteRTModule, read_metadata, runtime_available, write_metadata
from edgevision.errors import ArtifactError, ConfigError
from tflite_files import linear_classifier_tflite

pytestmark = pytest.mark.skipif(not runtime_available(), reason="ai-edge-litert is not installed (the litert or "
                                "teachers extra; make test-extras)")
SIZE = 16


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("lrt") / "t"
    return ev.train(model="hinton_mlp", model_kwargs={"hidden": [], "in_channels": 3, "input_size": SIZE},
                    data=tiny_data(n_train=64, size=SIZE), epochs=2, batch_size=32, out=out).artifact


@pytest.fixture(scope="module")
def tflite(trained, tmp_path_factory):
    """The trained model as an edgevision ``.tflite`` export would describe it."""
    art = load_artifact(trained)
    head = art.model.head
    path = tmp_path_factory.mktemp("lrtf") / "model.tflite"
    path.write_bytes(linear_classifier_tflite(head.weight.detach().numpy(), head.bias.detach().numpy(),
                                              (3, SIZE, SIZE)))
    write_metadata(path, {**onnx_metadata(art, art.model, "fp32"), "format": "edgevision.tflite"})
    return path


def test_metadata_round_trip_replaces_the_entry(tflite, tmp_path):
    p = tmp_path / "m.tflite"
    p.write_bytes(tflite.read_bytes())
    write_metadata(p, {"a": 1})
    write_metadata(p, {"a": 2})
    assert read_metadata(p) == {"a": 2}
    assert LiteRTModule(p)(torch.zeros(1, 3, SIZE, SIZE)).shape == (1, 4)  # the graph still runs


def test_tflite_artifact_matches_torch_and_evaluates_alike(trained, tflite, tmp_path, capsys):
    art, ref = load_artifact(tflite), load_artifact(trained)
    assert isinstance(art.model, LiteRTModule) and art.task == ref.task and art.input_shape == (3, SIZE, SIZE)
    x = torch.rand(5, 3, SIZE, SIZE)
    assert torch.allclose(art.model(x), ref.model.eval()(x), atol=1e-4)
    a = ev.evaluate(str(tflite), out=tmp_path / "e1").metrics["test"]
    b = ev.evaluate(str(trained), out=tmp_path / "e2").metrics["test"]
    assert a["top1"] == pytest.approx(b["top1"], abs=1e-9)


def test_bench_and_profile_run_the_file_in_litert(trained, tflite, tmp_path):
    res = ev.bench([trained, str(tflite)], threads=[1], budget_s=0.05, rounds=2, batch=2, peak=False,
                   engines=["torch", "onnxruntime", "litert"], out=tmp_path / "b").card["bench"]
    rows = {(r["label"].split("/")[-1], r["engine"]): r for r in res["rows"]}
    lt = rows[("model.tflite", "litert")]
    assert lt["p50_ms"] > 0 and lt["vs_ort_fp32"] > 0 and lt["file_bytes"] == tflite.stat().st_size
    assert lt["accuracy"] == pytest.approx(rows[("model.pt", "torch")]["accuracy"], abs=1e-9)
    assert ("model.tflite", "onnxruntime") not in rows  # a .tflite runs in litert only
    p = ev.profile(str(tflite), threads=1, budget_s=0.05, out=tmp_path / "p").card["profile"]
    assert list(p["latency"]) == ["litert"] and p["params"] == 3 * SIZE * SIZE * 4 + 4


def test_predict_and_the_demo_engine(tflite, tmp_path, capsys):
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for i in range(3):
        cv2.imwrite(str(imgs / f"{i}.png"), np.random.default_rng(i).integers(0, 255, (SIZE, SIZE, 3), np.uint8))
    assert main(["predict", str(tflite), str(imgs), "--out", str(tmp_path / "pr")]) == 0
    lines = (tmp_path / "pr" / "predictions.jsonl").read_text().splitlines()
    assert len(lines) == 3 and "label" in json.loads(lines[0])
    eng = make_engine(load_artifact(tflite), "auto")
    assert eng.name == "litert" and eng.run(np.zeros((1, 3, SIZE, SIZE), np.float32)).shape == (1, 4)
    with pytest.raises(ConfigError, match="runs with --engine litert only"):
        make_engine(load_artifact(tflite), "onnxruntime")


def test_a_damaged_flatbuffer_with_the_tflite_identifier_is_one_line(tmp_path, capsys):
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"\x10\x00\x00\x00TFL3" + b"garbage text" * 8)
    assert main(["eval", str(junk)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {junk}: not a readable TFLite model") and "\n" not in err, err
    assert "internal error" not in err


def test_bad_tflite_files_are_one_line(tflite, tmp_path, capsys):
    junk = tmp_path / "junk.tflite"
    junk.write_text("not a model")
    with pytest.raises(ArtifactError, match="not a TFLite flatbuffer"):
        load_artifact(junk)
    bare = tmp_path / "bare.tflite"
    bare.write_bytes(linear_classifier_tflite(np.zeros((2, 12), np.float32), np.zeros(2, np.float32), (3, 2, 2)))
    assert main(["eval", str(bare)]) == 2
    err = capsys.readouterr().err
    assert "not an edgevision export" in err and "--teacher" in err and "Traceback" not in err


def test_litert_on_a_model_without_the_converter_is_one_line(trained, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(litert, "available", lambda: False)  # as where only the interpreter is installed
    res = ev.bench([trained], threads=[1], budget_s=0.05, rounds=1, batch=2, peak=False, engines=["litert"],
                   out=tmp_path / "b").card["bench"]
    assert "litert-torch" in res["rows"][0]["error"]
    assert main(["profile", str(trained), "--engines", "litert", "--out", str(tmp_path / "p")]) == 2
    assert "litert-torch" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="litert-torch"):
        make_engine(load_artifact(trained), "litert")


def test_bench_names_the_files_no_engine_runs(trained, tflite, tmp_path, capsys):
    assert main(["bench", str(tflite), "--engines", "onnxruntime", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "model.tflite (a .tflite runs in litert)" in err[0]
    res = ev.bench([trained, str(tflite)], engines=["onnxruntime"], threads=[1], budget_s=0.05, rounds=1, batch=2,
                   peak=False, out=tmp_path / "b2")
    assert {r["engine"] for r in res.card["bench"]["rows"]} == {"onnxruntime"}
    assert "skipped" in capsys.readouterr().err
