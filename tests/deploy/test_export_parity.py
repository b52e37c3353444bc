"""Export is all-or-nothing per file, with one agreement bar (shared with quantize) and a relative float tolerance."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import edgevision as ev
from edgevision.artifacts import load_artifact, save_model
from edgevision.cli import main
from edgevision.configs.deploy import MIN_AGREEMENT, ExportConfig, QuantizeConfig
from edgevision.deploy import export as export_mod
from edgevision.errors import EdgevisionError


def test_one_agreement_bar_for_export_and_quantize():
    e = ExportConfig(artifact="x")
    qz = QuantizeConfig(artifact="x")
    assert e.min_agreement == qz.min_agreement == MIN_AGREEMENT and e.holdout == qz.holdout


def test_large_logits_pass_a_relative_tolerance(trained, tmp_path):
    """Logits of ~1e4: a correct export differs from torch by more than 1e-4 absolute, well under 1e-4 relative."""
    art = load_artifact(trained)
    with torch.no_grad():
        for p in art.model.head.parameters():
            p.mul_(1e4)
    big = save_model(tmp_path / "big.pt", art.model, task=art.task, preprocess=art.preprocess, meta=art.meta)
    res = ev.export(big, out=tmp_path / "e", engines=["onnxruntime"])
    ort = res.card["files"][0]["onnxruntime"]
    assert ort["pass"] and ort["metric"] == "max_rel_err" and ort["threshold"] == 1e-4
    assert ort["max_abs_err"] > 1e-4 and ort["max_rel_err"] <= 1e-4  # the old absolute bar would have failed it


def test_failed_file_is_deleted_and_named_and_the_card_lists_what_passed(trained, tmp_path):
    out = tmp_path / "e"
    with pytest.raises(EdgevisionError) as e:
        ev.export(trained, int8=True, min_agreement=0.5, rtol=1e-12, out=out, engines=["onnxruntime"])
    msg = str(e.value)
    assert "model.onnx" in msg and "max_rel_err" in msg and "threshold 1e-12" in msg and "removed" in msg
    assert not (out / "model.onnx").exists() and (out / "model.int8.onnx").exists()
    card = json.loads((out / "card.json").read_text())
    assert [f["file"] for f in card["files"]] == ["model.int8.onnx"] and card["status"] == "partial"
    assert card["rejected"] == [{"file": "model.onnx", "precision": "fp32"}]
    [why] = [r["reason"] for r in json.loads((out / "export.json").read_text())["rejected"]]
    assert why.startswith("onnxruntime: max_rel_err") and "vs threshold 1e-12" in why


def test_a_re_export_leaves_no_file_of_the_previous_one(trained, tmp_path):
    out = tmp_path / "e"
    ev.export(trained, int8=True, min_agreement=0.5, out=out)
    assert (out / "model.int8.onnx").exists()
    res = ev.export(trained, out=out)
    assert not (out / "model.int8.onnx").exists() and [f["file"] for f in res.card["files"]] == ["model.onnx"]


def test_a_cv2_failure_fails_the_file(trained, tmp_path, monkeypatch):
    monkeypatch.setattr(export_mod, "cv2_outputs", lambda path, x: (None, "cv2.dnn failed: Reshape node /x"))
    with pytest.raises(EdgevisionError, match=r"model\.onnx: parity check failed in cv2: cv2\.dnn failed: Reshape"):
        ev.export(trained, out=tmp_path / "e")
    assert not (tmp_path / "e" / "model.onnx").exists() and not (tmp_path / "e" / "card.json").exists()
    res = ev.export(trained, out=tmp_path / "e2", engines=["onnxruntime"])  # the user skips cv2's check
    assert "cv2" not in res.card["files"][0]


def test_int8_files_are_checked_in_onnxruntime_unless_cv2_is_asked_for(exported):
    files = {f["precision"]: f for f in exported.card["files"]}
    assert files["fp32"]["engines"] == ["onnxruntime", "cv2"] and files["int8"]["engines"] == ["onnxruntime"]
    assert ExportConfig(artifact="x", cv2="require").engines_for("int8") == ("onnxruntime", "cv2")  # old spelling
    assert ExportConfig(artifact="x", cv2="off").engines_for("fp32") == ("onnxruntime",)


def test_parity_failure_is_one_line_and_exit_2(trained, tmp_path, capsys):
    code = main(["export", str(trained), "--rtol", "1e-12", "--engines", "onnxruntime", "--out", str(tmp_path / "e")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "model.onnx" in err[0] and "Traceback" not in err[0]


def test_quantize_deletes_an_int8_file_under_the_agreement_bar(trained, tmp_path, monkeypatch):
    from edgevision.deploy import quantize as qmod

    monkeypatch.setattr(qmod._Int8Run, "agreement", lambda self, path: 0.9)
    with pytest.raises(EdgevisionError, match=r"model\.int8\.onnx: parity check failed in onnxruntime: agreement 0\.9 "
                       r"< threshold 0\.99"):
        ev.quantize(trained, qat="off", auto_exclude=False, calib_samples=32, budget_s=0.05, out=tmp_path / "q")
    assert not (tmp_path / "q" / "model.int8.onnx").exists() and not (tmp_path / "q" / "card.json").exists()


def test_quantize_reports_rounds_spread_and_phases(trained, tmp_path, capsys):
    res = ev.quantize(trained, tolerance=100, min_agreement=0.5, qat="off", calib_samples=32, budget_s=0.1,
                      out=tmp_path / "q")
    rep = json.loads((res.run_dir / "quantize.json").read_text())
    assert rep["speedup_rounds"] >= 7 and rep["speedup_spread"]["min"] <= rep["speedup"] * 1.5
    assert {"export", "calibration", "latency", "total"} <= set(rep["phases_s"])
    out = "".join(capsys.readouterr())
    assert "interleaved rounds" in rep["verdict"] and "quantize: " in out and "calibration" in out


def test_interleaved_timing_finds_a_known_ratio():
    import time

    from edgevision.utils.timing import interleaved

    res = interleaved({"slow": lambda: time.sleep(0.004), "fast": lambda: time.sleep(0.002)}, round_s=0.03,
                      target=0.02)
    assert res["rounds"] >= 7 and res["speedup"]["fast"] == pytest.approx(1.9, rel=0.2)
    s = res["spread"]["fast"]
    assert s["min"] <= s["median"] <= s["max"] and np.isfinite(s["rel_se"])
