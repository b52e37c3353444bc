"""``export --format executorch``: ``.pte`` programs (XNNPACK) on a plain CNN, a residual network and a concatenating
one, parity-checked in ExecuTorch's runtime; the files describe themselves and run in ``eval``, ``predict``,
``profile``, ``bench`` and ``demo``. They need the executorch extra (``make test-edge``) and skip elsewhere; the
missing-extra test runs everywhere."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

import edgevision as ev
from edgevision.apps.engines import make_engine
from edgevision.artifacts import load_artifact
from edgevision.cli import main
from edgevision.deploy import executorch as etx
from edgevision.errors import ArtifactError, ConfigError
from exporter_models import train_each

needs_et = pytest.mark.skipif(not etx.available(), reason="the executorch extra is not installed "
                              "(pip install 'edgevision[executorch]'; make test-edge)")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_each(tmp_path_factory.mktemp("et"))


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    if not etx.available():
        pytest.skip("the executorch extra is not installed")
    out = tmp_path_factory.mktemp("etx") / "e"
    return ev.export(trained["plain"], format="executorch", int8=True, min_agreement=0.8, calib_samples=32, out=out)


@needs_et
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["residual", "concat"])
def test_pte_export_passes_parity(trained, kind, tmp_path):
    res = ev.export(trained[kind], format="executorch", int8=True, min_agreement=0.9, calib_samples=32,
                    out=tmp_path / "e")
    files = {f["precision"]: f for f in res.card["files"]}
    assert set(files) == {"fp32", "int8"} and res.card["rejected"] == []
    assert files["fp32"]["executorch"]["max_rel_err"] <= 1e-4 and files["int8"]["executorch"]["agreement"] >= 0.9
    if kind == "concat":
        assert files["int8"]["bytes"] < files["fp32"]["bytes"] / 2


@needs_et
def test_exported_programs_describe_themselves_and_evaluate_alike(trained, exported, tmp_path):
    files = {f["precision"]: f for f in exported.card["files"]}
    assert files["fp32"]["executorch"]["max_rel_err"] <= 1e-4 and files["int8"]["executorch"]["agreement"] >= 0.8
    meta = etx.read_metadata(exported.run_dir / "model.int8.pte")
    assert meta["format"] == "edgevision.pte" and meta["precision"] == "int8" and meta["input"]["shape"][0] == 1
    art, ref = load_artifact(exported.run_dir / "model.pte"), load_artifact(trained["plain"])
    assert isinstance(art.model, etx.ExecuTorchModule) and art.task == ref.task
    x = torch.rand(3, *ref.input_shape)
    assert torch.allclose(art.model(x), ref.model.eval()(x), atol=1e-4)
    a = ev.evaluate(exported.run_dir / "model.pte", out=tmp_path / "e1").metrics["test"]
    b = ev.evaluate(trained["plain"], out=tmp_path / "e2").metrics["test"]
    assert a["top1"] == pytest.approx(b["top1"], abs=1 / 32)


@needs_et
def test_bench_profile_predict_and_demo_run_programs(trained, exported, tmp_path):
    res = ev.bench([trained["plain"], exported.run_dir], engines=["onnxruntime", "executorch"], threads=[1],
                   budget_s=0.05, rounds=2, batch=2, peak=False, out=tmp_path / "b").card["bench"]
    rows = {(r["label"].split("/")[-1], r["engine"]): r for r in res["rows"] if "p50_ms" in r}
    assert {("model.pt", "executorch"), ("model.pte", "executorch"), ("model.int8.pte", "executorch"),
            ("model.pt", "onnxruntime")} <= set(rows)
    assert rows[("model.int8.pte", "executorch")]["precision"] == "int8"
    assert all(r["vs_ort_fp32"] > 0 for r in rows.values())
    p = ev.profile(str(exported.run_dir / "model.int8.pte"), threads=1, budget_s=0.05,
                   out=tmp_path / "p").card["profile"]
    assert list(p["latency"]) == ["executorch"]
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for i in range(2):
        cv2.imwrite(str(imgs / f"{i}.png"), np.random.default_rng(i).integers(0, 255, (32, 32, 3), np.uint8))
    assert main(["predict", str(exported.run_dir / "model.pte"), str(imgs), "--out", str(tmp_path / "pr")]) == 0
    assert len((tmp_path / "pr" / "predictions.jsonl").read_text().splitlines()) == 2
    eng = make_engine(load_artifact(exported.run_dir / "model.pte"), "auto")
    assert eng.name == "executorch" and eng.run(np.zeros((1, 3, 32, 32), np.float32)).shape == (1, 4)
    conv = make_engine(load_artifact(trained["plain"]), "executorch")  # a torch artifact, converted on the fly
    try:
        assert conv.run(np.zeros((1, 3, 32, 32), np.float32)).shape == (1, 4)
    finally:
        conv.close()


@needs_et
@pytest.mark.parametrize("data", [b"a text file renamed .pte\n", b"", b"\x10\x00\x00\x00ET12" + b"garbage" * 8])
def test_eval_of_a_file_that_is_no_program_is_one_line_without_the_runtime_code(tmp_path, capsys, data):
    junk = tmp_path / "junk.pte"
    junk.write_bytes(data)
    assert main(["eval", str(junk)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {junk}: not a readable ExecuTorch program") and "\n" not in err, err
    assert "0x:" not in err and "Traceback" not in err


@needs_et
def test_bad_programs_are_one_line(tmp_path, capsys):
    junk = tmp_path / "junk.pte"
    junk.write_text("not a program")
    with pytest.raises(ArtifactError, match=r"junk\.pte: not a readable ExecuTorch program"):
        load_artifact(junk)
    bare = tmp_path / "bare.pte"
    etx.convert_fp32(torch.nn.Conv2d(3, 2, 1), (3, 8, 8), bare)  # no metadata: not an edgevision export
    assert main(["eval", str(bare)]) == 2
    err = capsys.readouterr().err
    assert "not an edgevision export" in err and "Traceback" not in err


def test_missing_executorch_extra_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(etx, "available", lambda: False)
    code = main(["export", str(tmp_path / "nope.pt"), "--format", "executorch", "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "pip install 'edgevision[executorch]'" in err[0]
    (tmp_path / "m.pte").write_bytes(b"\0" * 16)
    assert main(["eval", str(tmp_path / "m.pte")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'edgevision[executorch]'" in err[0]
    with pytest.raises(ConfigError, match="executorch extra"):
        etx.Runner(tmp_path / "m.pte")
