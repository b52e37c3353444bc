"""``export --format tflite``: LiteRT fp32 and full-integer int8 files on a plain CNN, a residual network and a
concatenating one, parity-checked in LiteRT's interpreter (slow: each conversion traces the model twice)."""

from __future__ import annotations

import json

import pytest
import torch

import edgevision as ev
from conftest import tiny_data
from edgevision.cli import main
from edgevision.deploy import litert, litert_runtime
from edgevision.deploy.litert_runtime import read_metadata
from edgevision.errors import ConfigError, EdgevisionError
from exporter_models import MODELS, train_each

needs_litert = pytest.mark.skipif(not litert.available(), reason="the litert extra is not installed "
                                  "(pip install 'edgevision[litert]')")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_each(tmp_path_factory.mktemp("lt"))


@needs_litert
@pytest.mark.slow
@pytest.mark.parametrize("kind", list(MODELS))
def test_tflite_export_passes_parity_in_litert(trained, kind, tmp_path):
    res = ev.export(trained[kind], format="tflite", int8=True, min_agreement=0.9, calib_samples=32,
                    out=tmp_path / "e")
    files = {f["precision"]: f for f in res.card["files"]}
    assert set(files) == {"fp32", "int8"} and res.card["rejected"] == []
    assert files["fp32"]["litert"]["max_rel_err"] <= 1e-4 and files["int8"]["litert"]["agreement"] >= 0.9
    assert (tmp_path / "e" / "model.tflite").is_file() and (tmp_path / "e" / "model.int8.tflite").is_file()
    if kind == "concat":
        assert files["int8"]["bytes"] < files["fp32"]["bytes"] / 2


@needs_litert
@pytest.mark.slow
def test_exported_files_describe_themselves_and_compete_in_best(trained, tmp_path):
    out = tmp_path / "e"
    ev.export(trained["plain"], format="tflite", int8=True, min_agreement=0.8, calib_samples=32, out=out)
    meta = read_metadata(out / "model.int8.tflite")
    assert meta["format"] == "edgevision.tflite" and meta["precision"] == "int8" and meta["input"]["shape"][0] == 1
    a = ev.evaluate(out / "model.tflite", out=tmp_path / "e1").metrics["test"]
    b = ev.evaluate(trained["plain"], out=tmp_path / "e2").metrics["test"]
    assert a["top1"] == pytest.approx(b["top1"], abs=1 / 32)  # fp32 parity: at most one test image flips
    rows = ev.bench([out], engines=["litert"], threads=[1], budget_s=0.05, rounds=2, batch=2, peak=False,
                    out=tmp_path / "b").card["bench"]["rows"]
    assert {(r["engine"], r["precision"]) for r in rows if "p50_ms" in r} == {("litert", "fp32"), ("litert", "int8")}
    best = ev.export(trained["plain"], format="best", min_agreement=0.8, tolerance=100,
                     out=tmp_path / "best").card["best"]
    lt = [c for c in best["candidates"] if c["format"] == "tflite"]
    assert {c["precision"] for c in lt} == {"fp32", "int8"} and all(c["engine"] == "litert" for c in lt)
    assert all("p50_ms" in c or "rejected" in c for c in lt)


def test_missing_litert_extra_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(litert, "available", lambda: False)
    monkeypatch.setattr(litert_runtime, "runtime_available", lambda: False)
    code = main(["export", str(tmp_path / "nope.pt"), "--format", "tflite", "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "pip install 'edgevision[litert]'" in err[0]
    with pytest.raises(ConfigError, match="litert extra"):
        litert_runtime.Runner(tmp_path / "m.tflite")
    (tmp_path / "m.tflite").write_bytes(b"\0\0\0\0TFL3")
    assert main(["eval", str(tmp_path / "m.tflite")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'edgevision[litert]'" in err[0]


@needs_litert
def test_a_converter_failure_rules_out_its_format_only(trained, tmp_path, monkeypatch):
    def refuse(*a, **k):
        raise EdgevisionError("LiteRT cannot convert the model (aten.foo has no lowering)")

    monkeypatch.setattr(litert, "convert_fp32", refuse)
    out = tmp_path / "best"
    best = ev.export(trained["plain"], format="best", min_agreement=0.8, tolerance=100, out=out).card["best"]
    lt = next(c for c in best["candidates"] if c["format"] == "tflite")
    assert "aten.foo" in lt["rejected"] and lt["engine"] == "litert" and best["engine"] != "litert"
    assert not list(out.glob("*.tflite"))


@needs_litert
@pytest.mark.slow
def test_segmentation_models_with_transposed_convolutions_export(tmp_path, capsys):
    """ENet's transposed convolutions are converted as sub-pixel convolutions and the file passes parity."""
    art = ev.train(model="enet", model_kwargs={"width_mult": 0.25}, epochs=1, batch_size=16,
                   data=tiny_data(n_train=16, size=32, classes=2), out=tmp_path / "seg").artifact
    assert main(["export", str(art), "--format", "tflite", "--out", str(tmp_path / "e")]) == 0
    report = json.loads((tmp_path / "e" / "export.json").read_text())
    f = next(f for f in report["files"] if f["file"] == "model.tflite")
    assert f["pass"] and f["litert"]["max_rel_err"] < 1e-4


def test_transposed_convolutions_it_cannot_rewrite_are_named():
    """A grouped transposed convolution stays one; the converter's refusal then names it in one line."""
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.ConvTranspose2d(4, 4, 2, 2, groups=2))
    err = str(litert.refusal(model, RuntimeError("failed to legalize operation 'mhlo.convolution'\n" + "x" * 500)))
    assert "transposed convolutions (1: nn.ConvTranspose2d)" in err and "--format executorch" in err
    assert "mhlo" not in err and "\n" not in err
