"""The Optuna search: recipe key paths, the space and objectives, pruning, a Pareto run, the report section, bad
inputs, and two worker processes sharing one SQLite study."""

import json
import os
import subprocess
import sys

import optuna
import pytest
import yaml

from conftest import tiny_data
from edgevision.cli import main
from edgevision.errors import ConfigError
from edgevision.search.config import ObjectiveSpec, ParamSpec, SearchSection
from edgevision.search.objectives import TrialReporter, resolve_objectives
from edgevision.search.run import SearchConfig, make_plan, search
from edgevision.search.space import corners, get_path, sample_recipe, set_path

RECIPE = {"name": "tiny", "seed": 0, "data": tiny_data(n_train=32, size=16, classes=3),
          "stages": [{"train": {"model": "student_cnn", "model_kwargs": {"width": 4, "depth": 2}, "epochs": 2,
                                "batch_size": 16, "optimizer": "adam"}},
                     {"eval": {"name": "check"}}, {"report": {}}]}


def _write(tmp_path, search, recipe=RECIPE):
    p = tmp_path / "r.yaml"
    p.write_text(yaml.safe_dump({**recipe, "search": search}))
    return p


def test_key_paths_address_stages_by_name_index_and_the_top_level():
    r = json.loads(json.dumps(RECIPE))
    set_path(r, "stages.train.lr", 0.1)
    set_path(r, "stages.1.split", "val")
    set_path(r, "stages.train.model_kwargs.width", 8)
    set_path(r, "data.input_size", 24)
    set_path(r, "stages.train.augment.rotate.degrees", 10)  # creates the nested mappings
    assert r["stages"][0]["train"]["lr"] == 0.1 and r["stages"][1]["eval"]["split"] == "val"
    assert get_path(r, "stages.check.split") == "val" and get_path(r, "data.input_size") == 24
    assert r["stages"][0]["train"]["augment"] == {"rotate": {"degrees": 10}}
    with pytest.raises(ConfigError, match=r"no stage named 'trian'; stages: train, check, report"):
        set_path(r, "stages.trian.lr", 1)
    with pytest.raises(ConfigError, match="'width' holds 8, not a mapping"):
        set_path(r, "stages.train.model_kwargs.width.x", 1)


def test_param_specs_validate_and_sample():
    with pytest.raises(ValueError, match=r"low 2\.0 > high 1\.0"):
        ParamSpec(low=2, high=1)
    with pytest.raises(ValueError, match="log scale needs low > 0"):
        ParamSpec(low=0, high=1, log=True)
    params = {"stages.train.lr": ParamSpec(low=1e-4, high=1e-1, log=True),
              "stages.train.optimizer": ParamSpec(choices=["sgd", "adam"]),
              "stages.train.momentum": ParamSpec(low=0.5, high=0.95, when={"stages.train.optimizer": "sgd"}),
              "stages.train.epochs": ParamSpec(type="int", low=1, high=3)}
    assert len(corners(params)) == 2
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(12):
        t = study.ask()
        r = sample_recipe(t, RECIPE, params)
        opts = r["stages"][0]["train"]
        assert 1e-4 <= opts["lr"] <= 0.1 and opts["epochs"] in (1, 2, 3)
        assert ("momentum" in opts) == (opts["optimizer"] == "sgd")  # conditional parameter
        seen.add(opts["optimizer"])
        study.tell(t, 0.0)
    assert seen == {"sgd", "adam"} and "lr" not in RECIPE["stages"][0]["train"]  # the recipe itself is untouched


def test_objectives_resolve_defaults_and_directions():
    seg = json.loads(json.dumps(RECIPE))
    seg["stages"][0]["train"]["model"] = "enet"
    (o,) = resolve_objectives([ObjectiveSpec()], seg)
    assert (o.stage, o.key, o.direction, o.history_key) == ("train", "metrics.val.miou", "maximize", "val_miou")
    objs = resolve_objectives([ObjectiveSpec(), ObjectiveSpec(stage="train", key="macs"),
                               ObjectiveSpec(latency={"threads": 1})], RECIPE)
    assert [x.direction for x in objs] == ["maximize", "minimize", "minimize"] and objs[0].key == "metrics.val.top1"
    with pytest.raises(ConfigError, match=r"cannot tell whether 'metrics\.test\.weird'"):
        resolve_objectives([ObjectiveSpec(stage="train", key="metrics.test.weird")], RECIPE)
    with pytest.raises(ConfigError, match=r"search.objectives\[0\].stage: no stage named 'nope'"):
        resolve_objectives([ObjectiveSpec(stage="nope")], RECIPE)


def test_bad_search_inputs_fail_before_any_trial(tmp_path):
    with pytest.raises(ConfigError, match="no 'search:' section"):
        p = tmp_path / "plain.yaml"
        p.write_text(yaml.safe_dump(RECIPE))
        make_plan(SearchConfig(recipe=str(p)), tmp_path / "out")
    bad = _write(tmp_path, {"params": {"stages.train.optimizer": {"choices": ["adam", "sgdd"]}}})
    with pytest.raises(ConfigError, match=r"stages\[0\].train.optimizer: got 'sgdd'"):
        make_plan(SearchConfig(recipe=str(bad)), tmp_path / "out")
    typo = _write(tmp_path, {"params": {"stages.train.lr": {"low": 0.1, "hihg": 1}}})
    with pytest.raises(ConfigError, match=r"search.params.stages.train.lr.hihg: unknown key"):
        make_plan(SearchConfig(recipe=str(typo)), tmp_path / "out")


def test_cli_bad_storage_is_one_line(tmp_path, capsys):
    p = _write(tmp_path, {"params": {"stages.train.lr": {"low": 0.001, "high": 0.01}}})
    code = main(["search", str(p), "--storage", "nosuchdb://x", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: --storage nosuchdb://x: cannot open") and err.count("\n") == 1


def test_reporter_prunes_through_optuna():
    class FakeRun:
        class path:
            name = "train"

    class FakeTrainer:
        run = FakeRun()

    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=0.5))
    trial = study.ask()
    rep = TrialReporter(trial, "train", "val_top1", prune=True)
    rep.on_epoch_end(FakeTrainer(), 0, {"val_top1": 0.7})
    with pytest.raises(optuna.TrialPruned, match="after epoch 2"):
        rep.on_epoch_end(FakeTrainer(), 1, {"val_top1": 0.2})
    assert rep.curve == [0.7, 0.2] and trial.user_attrs["pruned_after_epoch"] == 2


def test_pareto_search_writes_trials_card_and_report(tmp_path):
    p = _write(tmp_path, {"trials": 3, "sampler": "random", "seed": 0,
                          "objectives": [{}, {"latency": {"engine": "torch", "threads": 1, "budget_s": 0.05}}],
                          "params": {"stages.train.model_kwargs.width": {"type": "int", "low": 2, "high": 8},
                                     "stages.train.lr": {"low": 0.001, "high": 0.05, "log": True}}})
    res = search(p, out=tmp_path / "s")
    doc = json.loads((tmp_path / "s" / "trials.json").read_text())
    assert doc["counts"]["complete"] == 3 and doc["front"] and len(doc["objectives"]) == 2
    assert all(t["values"][1] > 0 and len(t["curve"]) == 2 for t in doc["trials"])
    assert res.card["stage"] == "search" and res.artifact and res.artifact.name == "model.pt"
    assert not list((tmp_path / "s" / "trials").glob("*/train/checkpoints"))  # trial checkpoints are dropped
    assert not list((tmp_path / "s" / "trials").glob("*/report*"))  # report stages are skipped in trials
    from edgevision import report

    html = report(tmp_path / "s", out=tmp_path / "r.html").artifact.read_text()
    assert "Hyper-parameter search" in html and "Pareto front" in html and "data:image/png" in html
    # running again resumes the finished study: no new trials
    search(p, out=tmp_path / "s")
    assert json.loads((tmp_path / "s" / "trials.json").read_text())["counts"]["trials"] == 3


@pytest.mark.slow
def test_two_workers_share_one_sqlite_study(tmp_path):
    """Two independent processes (as on two machines) join one study through one SQLite file."""
    p = _write(tmp_path, {"trials": 8, "sampler": "random", "pruner": {"kind": "none"},
                          "params": {"stages.train.lr": {"low": 0.001, "high": 0.05, "log": True}}})
    db = tmp_path / "shared.db"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "EDGEVISION_PROGRESS": "0"}
    procs = [subprocess.Popen([sys.executable, "-m", "edgevision", "search", str(p), "--storage", f"sqlite:///{db}",
                               "--threads", "1", "--seed", str(i), "--out", str(tmp_path / f"m{i}")], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    outs = [pr.communicate(timeout=300) for pr in procs]
    assert all(pr.returncode == 0 for pr in procs), [o[1][-500:] for o in outs]
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{db}")
    trials = study.get_trials()
    assert 8 <= len(trials) <= 9 and all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert len({t.number for t in trials}) == len(trials)
    assert len({t.user_attrs["worker"] for t in trials}) == 2  # both processes ran trials
    assert SearchSection  # the schema the two processes validated


def test_storage_creation_race_is_retried(monkeypatch):
    """Two workers creating one new SQLite study at once: the loser's "already exists" is retried, not fatal."""
    from edgevision.search import study as st

    calls = []

    def flaky(url, **kw):
        calls.append(url)
        if len(calls) < 3:
            raise RuntimeError("(sqlite3.OperationalError) table studies already exists")
        return "storage"

    monkeypatch.setattr(st, "RDBStorage", flaky)
    monkeypatch.setattr(st.time, "sleep", lambda s: None)
    assert st._rdb_storage("sqlite:///x.db", {}) == "storage" and len(calls) == 3

    def broken(url, **kw):
        calls.append(url)
        raise RuntimeError("could not translate host name")

    calls.clear()
    monkeypatch.setattr(st, "RDBStorage", broken)
    with pytest.raises(ConfigError, match="cannot open the study storage"):
        st.make_storage("postgresql://u@nohost/db")
    assert len(calls) == 1  # other errors are not retried
