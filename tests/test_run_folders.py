"""A folder that holds a run — finished or interrupted — is never restarted silently: ``--resume`` continues or
reuses it, ``--overwrite`` moves it aside to ``<out>.old-<time>``, and a plain re-run is a one-line error."""

from __future__ import annotations

import pytest

import edgevision
from conftest import tiny_data
from edgevision.cli import main
from edgevision.errors import ConfigError, EdgevisionError
from edgevision.stages import STAGES, run_stage
from edgevision.train.trainer import Trainer

TRAIN = {"model": "student_cnn", "model_kwargs": {"width": 8, "depth": 2}, "epochs": 2, "batch_size": 16,
         "data": tiny_data(n_train=32, size=16, classes=3)}
RUN_FOLDER_STAGES = {"train", "distill", "prune", "cluster", "shrink", "lowrank", "quantize", "pack"}
REQUIRED = {"prune": {"sparsity": 0.5}, "shrink": {"ratio": 0.5}}  # options a stage cannot validate without


@pytest.fixture
def interrupted(tmp_path, monkeypatch):
    """A train run killed right after epoch 1's checkpoint: config.yaml, metrics.jsonl and last.pt, no card."""
    save = Trainer.save_checkpoint

    def save_then_die(self) -> None:
        save(self)
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        edgevision.train(out=tmp_path / "t", **TRAIN)
    monkeypatch.setattr(Trainer, "save_checkpoint", save)
    assert not (tmp_path / "t" / "card.json").exists()
    return tmp_path / "t"


def test_plain_rerun_of_an_interrupted_run_is_refused(interrupted, capsys):
    last = (interrupted / "checkpoints" / "last.pt").read_bytes()
    code = main(["train", "--model", "student_cnn", "--data", "synthetic:shapes", "--out", str(interrupted)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "interrupted run" in err and "--resume" in err and "--overwrite" in err
    assert (interrupted / "checkpoints" / "last.pt").read_bytes() == last  # nothing was overwritten


def test_resume_continues_the_interrupted_run(interrupted):
    res = edgevision.train(out=interrupted, resume=True, **TRAIN)
    assert res.card["metrics"]["epochs_run"] == 2
    assert [r["epoch"] for r in edgevision.runs.RunDir(interrupted).history()] == [1, 2]


def test_overwrite_moves_the_old_run_aside(interrupted):
    old_log = (interrupted / "metrics.jsonl").read_text()
    res = edgevision.train(out=interrupted, overwrite=True, **TRAIN)
    assert res.card["status"] == "complete" and res.card["metrics"]["epochs_run"] == 2
    aside = sorted(interrupted.parent.glob("t.old-*"))
    assert len(aside) == 1 and (aside[0] / "metrics.jsonl").read_text() == old_log
    assert (aside[0] / "checkpoints" / "last.pt").exists()
    again = edgevision.train(out=interrupted, overwrite=True, **TRAIN)  # a finished run is moved aside too
    assert again.card["status"] == "complete" and len(list(interrupted.parent.glob("t.old-*"))) == 2


def test_resume_and_overwrite_exclude_each_other(interrupted):
    with pytest.raises(ConfigError, match="exclude each other"):
        edgevision.train(out=interrupted, resume=True, overwrite=True, **TRAIN)


@pytest.mark.parametrize("name", sorted(RUN_FOLDER_STAGES))
def test_every_run_folder_stage_refuses_an_interrupted_folder(name, tmp_path):
    """Checked before the stage opens its input: the artifact need not even exist."""
    out = tmp_path / name
    out.mkdir()
    (out / "config.yaml").write_text("epochs: 3\n")
    spec = STAGES.get(name)
    opts = {spec.input_field: str(tmp_path / "missing.pt")} if spec.input_field else {}
    opts.update(REQUIRED.get(name, {}))
    with pytest.raises(EdgevisionError, match=r"interrupted run.*--resume.*--overwrite"):
        run_stage(name, opts, out)
    assert (out / "config.yaml").read_text() == "epochs: 3\n"


def test_the_stages_with_a_resume_option_all_have_overwrite():
    with_resume = {n for n in STAGES.names() if "resume" in STAGES.get(n).config.model_fields}
    with_overwrite = {n for n in STAGES.names() if "overwrite" in STAGES.get(n).config.model_fields}
    assert with_resume == with_overwrite and with_overwrite >= RUN_FOLDER_STAGES


def test_recipe_force_starts_over_and_the_report_ignores_the_old_run(tmp_path):
    recipe = {"name": "r", "data": TRAIN["data"], "stages": [{"train": {k: v for k, v in TRAIN.items() if k != "data"}},
                                                             {"report": {}}]}
    edgevision.run(recipe, out=tmp_path / "r")
    res = edgevision.run(recipe, out=tmp_path / "r", force=True)
    assert res[0].card["status"] == "complete" and len(list((tmp_path / "r").glob("train.old-*"))) == 1
    html = (tmp_path / "r" / "report.html").read_text()
    assert "train.old-" not in html
