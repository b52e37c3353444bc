"""``export --format ncnn``: pnnx converts the ONNX graph of a plain CNN, a residual network and a concatenating one
to ncnn (``model.ncnn.param`` + ``.bin``, described by ``model.ncnn.json``), parity-checked in ncnn; the files run in
``eval``, ``predict``, ``profile``, ``bench`` and ``demo``. They need the ncnn extra (``make test-edge``) and skip
elsewhere; the missing-extra test runs everywhere."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

import edgevision as ev
from edgevision.apps.engines import make_engine
from edgevision.artifacts import load_artifact
from edgevision.cli import main
from edgevision.deploy import ncnn
from edgevision.errors import ArtifactError
from exporter_models import train_each

needs_ncnn = pytest.mark.skipif(not ncnn.available(), reason="the ncnn extra is not installed "
                                "(pip install 'edgevision[ncnn]'; make test-edge)")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_each(tmp_path_factory.mktemp("nc"))


@needs_ncnn
@pytest.mark.parametrize("kind", ["plain", pytest.param("residual", marks=pytest.mark.slow),
                                  pytest.param("concat", marks=pytest.mark.slow)])
def test_ncnn_export_passes_parity_and_runs_like_the_torch_model(trained, kind, tmp_path):
    res = ev.export(trained[kind], format="ncnn", out=tmp_path / "e")
    (f,) = res.card["files"]
    assert f["file"] == "model.ncnn.param" and res.card["rejected"] == []
    assert f["ncnn"]["metric"] == "max_rel_err" and f["ncnn"]["max_rel_err"] <= 1e-4  # fp32 weights: a float file
    folder = tmp_path / "e"
    assert {p.name for p in folder.glob("model.ncnn.*")} == {"model.ncnn.param", "model.ncnn.bin", "model.ncnn.json"}
    assert f["bytes"] == sum((folder / n).stat().st_size for n in ("model.ncnn.param", "model.ncnn.bin"))
    art, ref = load_artifact(folder / "model.ncnn.param"), load_artifact(trained[kind])
    x = torch.rand(3, *ref.input_shape)
    assert isinstance(art.model, ncnn.NcnnModule) and torch.allclose(art.model(x), ref.model.eval()(x), atol=1e-4)


@needs_ncnn
def test_ncnn_fp16_storage_is_half_the_bytes_and_held_to_agreement(trained, tmp_path):
    res = ev.export(trained["plain"], format="ncnn", fp16=True, out=tmp_path / "e")
    f32, f16 = res.card["files"]
    assert (f32["precision"], f16["precision"], f16["file"]) == ("fp32", "fp16", "model.fp16.ncnn.param")
    assert f16["ncnn"]["metric"] == "agreement" and f16["ncnn"]["agreement"] >= 0.99
    assert 0 < f16["ncnn"]["max_rel_err"] < 1e-2 and f16["bytes"] < 0.6 * f32["bytes"]
    desc = json.loads((tmp_path / "e" / "model.fp16.ncnn.json").read_text())
    assert desc["precision"] == "fp16" and desc["format"] == "edgevision.ncnn"
    assert isinstance(load_artifact(tmp_path / "e" / "model.fp16.ncnn.param").model, ncnn.NcnnModule)


@needs_ncnn
def test_eval_bench_profile_predict_and_demo_run_ncnn(trained, tmp_path):
    out = tmp_path / "e"
    ev.export(trained["plain"], format="ncnn", out=out)
    a = ev.evaluate(out / "model.ncnn.param", out=tmp_path / "e1").metrics["test"]
    b = ev.evaluate(trained["plain"], out=tmp_path / "e2").metrics["test"]
    assert a["top1"] == pytest.approx(b["top1"], abs=1 / 32)
    rows = ev.bench([trained["plain"], out], engines=["onnxruntime", "ncnn"], threads=[1], budget_s=0.05, rounds=2,
                    batch=2, peak=False, out=tmp_path / "b").card["bench"]["rows"]
    got = {(r["label"].split("/")[-1], r["engine"]) for r in rows if "p50_ms" in r}
    assert {("model.pt", "ncnn"), ("model.ncnn.param", "ncnn"), ("model.pt", "onnxruntime")} <= got
    p = ev.profile(str(out / "model.ncnn.param"), threads=1, budget_s=0.05, out=tmp_path / "p").card["profile"]
    assert list(p["latency"]) == ["ncnn"]
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    cv2.imwrite(str(imgs / "a.png"), np.zeros((32, 32, 3), np.uint8))
    assert main(["predict", str(out / "model.ncnn.param"), str(imgs), "--out", str(tmp_path / "pr")]) == 0
    eng = make_engine(load_artifact(out / "model.ncnn.param"), "auto")
    assert eng.name == "ncnn" and eng.run(np.zeros((2, 3, 32, 32), np.float32)).shape == (2, 4)


@needs_ncnn
def test_an_ncnn_model_without_its_description_is_one_line(tmp_path, capsys):
    path = ncnn.convert_fp32(torch.nn.Conv2d(3, 2, 1), (3, 8, 8), tmp_path / "bare.ncnn.param")
    assert main(["eval", str(path)]) == 2
    err = capsys.readouterr().err
    assert "not an edgevision export" in err and "bare.ncnn.json" in err and "Traceback" not in err
    (tmp_path / "junk.ncnn.param").write_text("not a graph")
    (tmp_path / "junk.ncnn.json").write_text('{"arch": {"name": "student_cnn"}, "task": {}, "preprocess": {}}')
    with pytest.raises(ArtifactError, match=r"junk\.ncnn\.param: not a readable ncnn model"):
        load_artifact(tmp_path / "junk.ncnn.param")


@needs_ncnn
def test_eval_of_a_text_file_named_ncnn_param_is_one_line(tmp_path, capfd):
    """ncnn itself prints a line of its own (on the process's stderr) when a graph is no ncnn graph; the file is
    refused before ncnn reads it, so the error is the one line, with or without a description beside it."""
    junk = tmp_path / "junk.ncnn.param"
    junk.write_text("a text file renamed .ncnn.param\n")
    for described in (False, True):
        if described:
            junk.with_suffix(".json").write_text('{"arch": {"name": "student_cnn"}, "task": {}, "preprocess": {}}')
        assert main(["eval", str(junk)]) == 2
        err = capfd.readouterr().err.strip()
        assert err.startswith(f"error: {junk}: not a readable ncnn model") and "\n" not in err, err


def test_missing_ncnn_extra_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(ncnn, "available", lambda: False)
    code = main(["export", str(tmp_path / "nope.pt"), "--format", "ncnn", "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "pip install 'edgevision[ncnn]'" in err[0]
