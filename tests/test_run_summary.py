"""``edgevision run`` (and the quickstart) end with a table of what came out and the next commands to try."""

from __future__ import annotations

import importlib

import yaml

from conftest import tiny_data
from edgevision.cli import main
from edgevision.report.terminal import next_commands, stage_rows


def test_run_ends_with_the_stage_table_and_next_commands(tmp_path, capsys):
    recipe = {"name": "t", "data": tiny_data(n_train=32, size=16, classes=3),
              "stages": [{"train": {"model": "student_cnn", "model_kwargs": {"width": 8, "depth": 2}, "epochs": 1,
                                    "batch_size": 16}},
                         {"pack": {}}, {"eval": {}},
                         {"bench": {"artifacts": ["@train", "@pack"], "engines": ["torch", "onnxruntime"],
                                    "threads": [1], "budget_s": 0.05, "rounds": 1}},
                         {"report": {}}]}
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    tail = out[out.index("what came out"):]
    for text in ("stage", "artifact", "bytes", "test metric", "torch ms", "onnxruntime ms", "model.pt", "model.evz",
                 "test top1", "next:", " demo ", "model.evz --source 0", " eval ", "report.html"):
        assert text in tail, text
    rows = {r["stage"]: r for r in stage_rows(tmp_path / "out")}
    assert rows["pack"]["bytes"] == (tmp_path / "out" / "pack" / "model.evz").stat().st_size
    assert set(rows["pack"]["latency"]) == {"torch", "onnxruntime"}  # from bench.json
    assert rows["eval"]["metric"].startswith("test top1 ") and rows["eval"]["about"].name == "model.evz"


def test_next_commands_name_the_venv_when_it_is_not_active(tmp_path, monkeypatch):
    term = importlib.import_module("edgevision.report.terminal")  # `edgevision.report` is also the verb
    monkeypatch.setattr(term.shutil, "which", lambda name: None)  # `edgevision` is not on PATH
    (tmp_path / "x").mkdir()
    lines = next_commands(tmp_path, [{"artifact": tmp_path / "x" / "model.pt"}])
    assert lines[0].startswith("source ") and "bin/activate" in lines[0]
    assert any(line.split()[0].endswith("bin/edgevision") and " demo " in line for line in lines)
