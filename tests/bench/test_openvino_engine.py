"""The openvino engine beside torch, onnxruntime and cv2: bench rows with ×(onnxruntime fp32) and the fastest marked,
profile of an IR, and the apps' engine (demo) on .pt and .xml artifacts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import edgevision as ev
from edgevision.apps.engines import make_engine
from edgevision.artifacts import load_artifact
from edgevision.bench.bench import format_table
from edgevision.errors import ConfigError

pytest.importorskip("openvino", reason="the openvino extra is not installed (pip install 'edgevision[openvino]')")
pytest.importorskip("nncf", reason="the openvino extra is not installed (pip install 'edgevision[openvino]')")


@pytest.fixture(scope="module")
def ir(trained, tmp_path_factory):
    out = tmp_path_factory.mktemp("ovbench") / "export"
    return ev.export(trained, format="openvino", int8=True, min_agreement=0.8, out=out)


def test_bench_puts_openvino_in_the_same_table(trained, exported, ir, tmp_path):
    res = ev.bench([trained, exported.artifact, ir.artifact], threads=[1], budget_s=0.05, rounds=2, batch=2,
                   engines=["onnxruntime", "openvino"], peak=False, out=tmp_path / "b").card["bench"]
    rows = res["rows"]
    kinds = {(r["label"].split("/")[-1], r["engine"], r["precision"]) for r in rows if "p50_ms" in r}
    assert {("model.pt", "openvino", "fp32"), ("model.int8.onnx", "openvino", "int8"),  # QDQ files run there too
            ("model.xml", "openvino", "fp32"), ("model.int8.xml", "openvino", "int8"),
            ("model.pt", "onnxruntime", "fp32")} <= kinds
    ort = next(r for r in rows if r["engine"] == "onnxruntime" and r["precision"] == "fp32")
    assert ort["vs_ort_fp32"] == 1.0
    for r in rows:
        assert r["vs_ort_fp32"] == pytest.approx(ort["p50_ms"] / r["p50_ms"], rel=2e-3, abs=6e-4)  # rounded to 3 places
    for kind in ("fp32", "int8"):
        group = [r for r in rows if r["precision"] == kind]
        best = [r for r in group if r["fastest"]]
        assert len(best) == 1 and best[0]["p50_ms"] == min(r["p50_ms"] for r in group)
    xml = next(r for r in rows if r["label"].endswith("model.int8.xml"))
    files = ir.run_dir / "model.int8.xml", ir.run_dir / "model.int8.bin"
    assert xml["file_bytes"] == sum(f.stat().st_size for f in files) and xml["accuracy"] is not None
    table = format_table(res)
    assert "×ort32" in table and "* fastest" in table and "openvino" in table


def test_profile_runs_an_ir_in_openvino(ir, tmp_path):
    p = ev.profile(str(ir.run_dir / "model.int8.xml"), threads=1, budget_s=0.05, out=tmp_path / "p").card["profile"]
    assert list(p["latency"]) == ["openvino"] and p["latency"]["openvino"]["p50_ms"] > 0 and p["macs"] > 0


def test_the_apps_engine_runs_pt_and_ir_alike(trained, ir):
    pt, xml = load_artifact(trained), load_artifact(ir.run_dir / "model.xml")
    x = np.random.default_rng(0).standard_normal((2, *pt.input_shape), np.float32)
    with torch.inference_mode():
        want = pt.model.eval()(torch.from_numpy(x)).numpy()
    for art, engine in ((pt, "openvino"), (xml, "auto"), (xml, "openvino")):
        eng = make_engine(art, engine, threads=1)
        try:
            assert eng.name == "openvino"
            np.testing.assert_allclose(eng.run(x), want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
            np.testing.assert_allclose(eng.run(x[:1]), want[:1], rtol=1e-4, atol=1e-4 * np.abs(want).max())
        finally:
            eng.close()
    with pytest.raises(ConfigError, match=r"an OpenVINO IR runs with --engine openvino only \(not onnxruntime\)"):
        make_engine(xml, "onnxruntime")
