"""The distill stage: CLI verb, public function, recipe stage, one-line errors, resume."""

from __future__ import annotations

import json

import pytest
import yaml
from kd_helpers import make_teacher_artifact

import edgevision
from conftest import tiny_data
from edgevision.cli import main
from edgevision.errors import ConfigError

FAST = {"epochs": 1, "batch_size": 16, "latency_budget_s": 0.05, "student_kwargs": {"width": 4, "depth": 2}}


@pytest.fixture
def teacher(tmp_path):
    return make_teacher_artifact(tmp_path / "teacher.pt", data=tiny_data(n_train=48))


def test_cli_distill_online_with_hint_then_eval(tmp_path, teacher, capsys):
    out = tmp_path / "d"
    rc = main(["distill", "--teacher", str(teacher), "--student-kwargs", "width=4", "depth=2", "--epochs", "1",
               "--batch-size", "16", "--temperature", "3", "--alpha", "0.8", "--hint", "features.1:features.1",
               "--set", "latency_budget_s=0.05", "--out", str(out)])
    assert rc == 0
    assert "distillation score" in capsys.readouterr().out
    card = json.loads((out / "card.json").read_text())
    assert card["stage"] == "distill" and card["task"]["name"] == "classification"
    assert card["parent"] == str(teacher) and card["model"]["kwargs"]["width"] == 4
    rep = json.loads((out / "distill.json").read_text())
    assert {"teacher", "student", "distillation_score", "kd", "hints"} <= set(rep)
    assert rep["teacher"]["size_bytes"] > rep["student"]["size_bytes"] > 0
    assert rep["teacher"]["ms_per_image"] > 0 and "top1" in rep["student"]["test"]
    assert rep["hints"][0]["student_shape"] == [4, 12, 12] and rep["hints"][0]["teacher_shape"] == [8, 12, 12]
    hist = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert {"train_loss_soft", "train_loss_hard", "train_loss_hint"} <= set(hist[0])
    # the student is a plain classification artifact: eval needs nothing else
    assert main(["eval", str(out), "--out", str(tmp_path / "e")]) == 0


def test_offline_mode_reuses_cache_across_runs(tmp_path, teacher):
    opts = {**FAST, "mode": "offline", "cache_dir": str(tmp_path / "cache")}
    a = edgevision.distill(teacher, out=tmp_path / "a", **opts)
    b = edgevision.distill(teacher, out=tmp_path / "b", **opts)
    assert a.card["distillation"]["reused"] is False and b.card["distillation"]["reused"] is True
    assert a.card["distillation"]["cache"] == b.card["distillation"]["cache"]


def test_recipe_train_distill_eval(tmp_path):
    recipe = {"name": "kd", "data": tiny_data(n_train=48),
              "stages": [{"train": {"model": "student_cnn", "model_kwargs": {"width": 8, "depth": 2}, "epochs": 1,
                                    "batch_size": 16}},
                         {"distill": {**FAST, "objective": "mse", "zero_mean": True}},
                         {"eval": {}}, {"report": {}}]}
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    results = edgevision.run(path, out=tmp_path / "run")
    assert [r.card.get("stage") for r in results] == ["train", "distill", "eval", "report"]
    assert "Distillation (held-out test split)" in (tmp_path / "run" / "report.html").read_text()
    assert results[2].card["parent"].endswith("distill/model.pt")  # eval acts on the distilled student
    assert results[1].card["distillation"]["kd"]["objective"] == "mse"


@pytest.mark.parametrize("args,message", [
    (["--teacher", "hgo"], "not a built-in teacher"),
    (["--hint", "featurs.1:features.1"], "student layer 'featurs.1' not found"),
    (["--hint", "features.1:features.1", "--mode", "offline"], "hints need the teacher's features"),
    (["--teacher", "hog"], "pass --data"),
    (["--teacher", "hog", "--data", "synthetic:shapes", "--input-size", "24", "--set", "data.options.n_train=16",
      "--set", "data.options.n_test=4"], "one named 'person'"),
    (["--temperature", "0"], "temperature"),
    (["--set", "objective=kl"], "objective"),
])
def test_user_errors_are_one_line(tmp_path, teacher, capsys, args, message):
    base = ["distill", "--teacher", str(teacher), "--epochs", "1", "--out", str(tmp_path / "x")]
    if "--teacher" in args:
        base = base[:1] + base[3:]
    assert main(base + args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and "\n" not in err


def test_finished_run_needs_resume(tmp_path, teacher):
    edgevision.distill(teacher, out=tmp_path / "d", **FAST)
    with pytest.raises(Exception, match="already holds a finished run"):
        edgevision.distill(teacher, out=tmp_path / "d", **FAST)
    again = edgevision.distill(teacher, out=tmp_path / "d", resume=True, **FAST)
    assert again.artifact.name == "model.pt"


def test_data_flags_without_source_keep_the_teachers_data(tmp_path, teacher):
    res = edgevision.distill(teacher, out=tmp_path / "d", data={"input_size": 32}, **FAST)
    assert res.card["data"]["source"] == "synthetic:shapes" and res.card["input_shape"] == [3, 32, 32]
    with pytest.raises(ConfigError, match=r"distill.alpha"):
        edgevision.distill(teacher, out=tmp_path / "e", alpha=2)
