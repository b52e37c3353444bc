"""The bench table: rows per artifact × engine × precision, ratios, peak, and the report section."""

from __future__ import annotations

import pytest

from edgevision.bench.peak import peak_gmacs


def test_peak_is_measured():
    p = peak_gmacs(1, budget_s=0.02)
    assert p["fp32"] > 1 and p["int8"] > 1 and p["fp32_n"] in (256, 512, 1024)


def test_bench_table(trained, exported, tmp_path):
    import edgevision as ev
    from edgevision.bench.bench import format_table
    from edgevision.report.html import report

    res = ev.bench([trained, exported.artifact], threads=[1], budget_s=0.05, rounds=1, batch=4, torch_bf16=True,
                   out=tmp_path / "bench")
    rows = res.card["bench"]["rows"]
    kinds = {(r["label"].split("/")[-1], r["engine"], r["precision"]) for r in rows}
    assert {("model.pt", "torch", "fp32"), ("model.pt", "torch", "bf16 compute"), ("model.pt", "onnxruntime", "fp32"),
            ("model.pt", "cv2", "fp32"), ("model.onnx", "onnxruntime", "fp32"),  # the export's siblings come along
            ("model.int8.onnx", "onnxruntime", "int8")} <= kinds
    for r in rows:
        if "error" in r:
            continue
        assert r["p50_ms"] > 0 and r["p90_ms"] >= r["p50_ms"] and r["img_s"] > 0 and r["macs"] > 0
        assert r["params"] > 0 and r["file_bytes"] > 0 and 0 < r["peak_fraction_b1"] < 10
        assert r["accuracy"] is not None and r["metric"] == "top1"
    first = next(r for r in rows if r["engine"] == "torch")
    assert first["vs_first"] == 1.0
    i8 = next(r for r in rows if r["precision"] == "int8" and r["engine"] == "onnxruntime")
    assert i8["vs_fp32"] > 0  # ratio against the fp32 file of the same model on the same engine
    assert "GMAC/s" in format_table(res.card["bench"])
    html = report([res.run_dir], out=tmp_path / "r.html").artifact.read_text()
    assert 'id="bench"' in html and "model.int8.onnx" in html


def test_bench_rejects_missing_files(tmp_path):
    import edgevision as ev

    with pytest.raises(ev.EdgevisionError, match="no such file"):
        ev.bench([tmp_path / "nope.onnx"], out=tmp_path / "b")


def test_bench_ratios_carry_their_round_to_round_spread(trained, exported, tmp_path):
    import edgevision as ev

    res = ev.bench([exported.artifact], threads=[1], budget_s=0.1, rounds=4, batch=2, engines=["onnxruntime"],
                   peak=False, out=tmp_path / "b").card["bench"]
    int8 = next(r for r in res["rows"] if r["precision"] == "int8")
    assert len(int8["round_p50_ms"]) == 4 and int8["vs_fp32_spread"]["min"] <= int8["vs_fp32_spread"]["max"]
    assert any("4 interleaved rounds (per-round" in v for v in res["verdicts"]) and len(res["loadavg"]) == 3
