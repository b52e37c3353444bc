"""``export --format best``: every installed candidate is built and checked, the fastest accepted one is kept, and the
card says who won, by how much, and why the others were rejected."""

from __future__ import annotations

import json

import pytest

import edgevision as ev
from edgevision.deploy import best as best_mod
from edgevision.deploy import openvino as ovx
from edgevision.deploy.best import candidate_formats
from edgevision.errors import EdgevisionError


def test_best_keeps_the_fastest_accepted_candidate_and_says_why_others_lost(trained, tmp_path):
    out = tmp_path / "best"
    res = ev.export(trained, format="best", min_agreement=0.8, tolerance=100, out=out)
    best = res.card["best"]
    cands = best["candidates"]
    assert {c["format"] for c in cands} == set(candidate_formats()) and ("openvino" in candidate_formats()) == \
        ovx.available()
    ok = [c for c in cands if "rejected" not in c]
    assert best["winner"] == min(ok, key=lambda c: c["p50_ms"])["file"] == res.artifact.name
    assert best["vs_ort_fp32"] == pytest.approx(next(c["p50_ms"] for c in cands if c["file"] == "model.onnx")
                                                / best["p50_ms"], rel=1e-2)
    assert all(c["metric"] == "top1" and "drop_points" in c for c in ok) and best["reference"]["metric"] == "top1"
    kept = {p.name for p in out.iterdir() if p.name.startswith("model")}
    assert kept == {best["winner"]} | ({best["winner"].replace(".xml", ".bin")} if best["engine"] == "openvino"
                                       else set())
    assert json.loads((out / "export.json").read_text())["best"]["winner"] == best["winner"]


def test_best_rejects_candidates_with_the_rule_they_missed(trained, tmp_path, monkeypatch):
    """fp32 files held to an impossible float bar are rejected with their metric; an int8 file wins (ncnn, whose
    fp32 file is held to the agreement rule, is left out)."""
    monkeypatch.setattr(best_mod, "CANDIDATES", tuple(c for c in best_mod.CANDIDATES if c != "ncnn"))
    res = ev.export(trained, format="best", rtol=1e-12, min_agreement=0.8, tolerance=100, out=tmp_path / "b")
    best = res.card["best"]
    fp32 = [c for c in best["candidates"] if c["precision"] == "fp32"]
    assert fp32 and all("max_rel_err" in c["rejected"] and "1e-12" in c["rejected"] for c in fp32)
    assert best["precision"] == "int8" and best["vs_ort_fp32"] is None


def test_the_accuracy_gate_rejects_and_no_survivor_is_one_error(trained, tmp_path, monkeypatch):
    """Candidates 50 points below the torch model fail a 1-point tolerance; with none left, export fails in one line
    naming each file and why, and keeps none of them."""
    from edgevision.deploy import best as best_mod

    monkeypatch.setattr(best_mod, "_metric", lambda job, model: ("top1", 1.0 if model is job.model else 0.5))
    with pytest.raises(EdgevisionError, match=r"export --format best: no candidate passed \(model\.onnx: top1 0\.5000 "
                       r"is 50\.00 points below fp32 \(tolerance 1\)"):
        ev.export(trained, format="best", min_agreement=0.8, out=tmp_path / "c")
    assert not list((tmp_path / "c").glob("model*"))


def test_the_card_records_the_kept_files_test_metric(trained, tmp_path):
    """The winner's test metric goes into the card's ``metrics`` (as other stages' cards), with its drop vs fp32."""
    res = ev.export(trained, format="best", min_agreement=0.8, tolerance=100, out=tmp_path / "m")
    best, metrics = res.card["best"], res.card["metrics"]
    win = next(c for c in best["candidates"] if c["file"] == best["winner"])
    assert metrics["test"] == {"top1": win["value"]} and metrics["fp32_test"] == {"top1": best["reference"]["value"]}
    assert metrics["drop_points"] == win["drop_points"]


def test_export_json_lists_the_candidates_best_rejected_with_their_reason(trained, tmp_path, monkeypatch):
    """Every rejected candidate of the card's ``best.candidates`` is in export.json's ``rejected``, with why; the
    card itself stays complete (its kept files all passed)."""
    real = best_mod._metric
    monkeypatch.setattr(best_mod, "_metric", lambda job, model: real(job, model) if model is job.model or
                        "int8" not in str(getattr(model, "path", "")) else ("top1", -1.0))
    res = ev.export(trained, format="best", min_agreement=0.8, tolerance=5, out=tmp_path / "r")
    lost = [c for c in res.card["best"]["candidates"] if "rejected" in c]
    rejected = json.loads((tmp_path / "r" / "export.json").read_text())["rejected"]
    assert lost and {(r["file"], r["reason"]) for r in rejected} == {(c["file"], c["rejected"]) for c in lost}
    assert all("points below fp32" in r["reason"] for r in rejected) and res.card["status"] == "complete"


def test_best_prints_a_line_as_each_candidate_format_starts_and_ends(trained, tmp_path, capsys):
    ev.export(trained, format="best", min_agreement=0.8, tolerance=100, out=tmp_path / "p")
    err = capsys.readouterr().err
    for name in candidate_formats():
        assert f"best: building {name} " in err and f"best: {name} built" in err, err
