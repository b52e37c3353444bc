"""Two search workers on a shared study; one is SIGKILLed mid-trial: the heartbeat marks its trial failed, a live
worker retries it, and the study still ends with the requested number of finished trials. Run on PostgreSQL (when
``EDGEVISION_TEST_POSTGRES`` names a server; `.ci/run` starts one) and on a journal file (no server)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import optuna
import pytest
import yaml

from conftest import tiny_data
from edgevision.search.slots import SURPLUS, counted, is_surplus, next_step
from edgevision.search.study import make_storage

TRIALS = 5
RECIPE = {"name": "kill", "seed": 0, "data": tiny_data(n_train=768, size=16, classes=3),
          "stages": [{"train": {"model": "student_cnn", "model_kwargs": {"width": 4, "depth": 2}, "epochs": 8,
                                "batch_size": 16, "optimizer": "adam"}}],
          "search": {"trials": TRIALS, "sampler": "random", "pruner": {"kind": "none"},
                     "params": {"stages.train.lr": {"low": 0.001, "high": 0.05, "log": True}}}}


def _postgres_url() -> str:
    url = os.environ.get("EDGEVISION_TEST_POSTGRES")
    if not url:
        pytest.skip("EDGEVISION_TEST_POSTGRES is not set (.ci/run starts a PostgreSQL server and sets it)")
    pytest.importorskip("psycopg2", reason="psycopg2-binary (the postgres extra) is not installed")
    return url


def _worker(recipe, storage, study, out, seed):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "EDGEVISION_PROGRESS": "0"}
    cmd = [sys.executable, "-m", "edgevision", "search", str(recipe), "--storage", storage, "--study", study,
           "--threads", "1", "--seed", str(seed), "--set", "heartbeat=1", "--set", "grace=3", "--out", str(out)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _running_trial_of(study: optuna.Study, pid: int, seconds: float) -> optuna.trial.FrozenTrial | None:
    """The trial ``pid`` has been running for at least ``seconds`` (so it has sent heartbeats), if any."""
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        if t.user_attrs.get("worker", "").endswith(f":{pid}") and t.datetime_start and \
                time.time() - t.datetime_start.timestamp() >= seconds:
            return t
    return None


def _kill_one_worker_mid_trial(tmp_path, storage: str) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump(RECIPE))
    name = f"kill-{uuid.uuid4().hex[:8]}"
    survivor = _worker(recipe, storage, name, tmp_path / "a", 0)
    victim = _worker(recipe, storage, name, tmp_path / "b", 1)
    try:
        deadline, killed = time.time() + 120, None
        while killed is None and time.time() < deadline and victim.poll() is None:
            time.sleep(0.2)
            try:
                killed = _running_trial_of(optuna.load_study(study_name=name, storage=make_storage(storage)),
                                          victim.pid, 1.5)
            except KeyError:  # the study is not created yet
                continue
        assert killed is not None, "the second worker never ran a trial"
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
        _, err = survivor.communicate(timeout=240)
        assert survivor.returncode == 0, err[-800:]
    finally:
        for p in (survivor, victim):
            if p.poll() is None:
                p.kill()
    trials = optuna.load_study(study_name=name, storage=make_storage(storage)).get_trials()
    dead = next(t for t in trials if t.number == killed.number)
    assert dead.state == optuna.trial.TrialState.FAIL  # marked failed by the heartbeat
    retry = [t for t in trials if killed.number in t.system_attrs.get("retry_history", [])]
    assert len(retry) == 1 and retry[0].state == optuna.trial.TrialState.COMPLETE
    assert retry[0].params == dead.params  # the same point, run again
    assert counted(trials) == TRIALS and sum(t.state == optuna.trial.TrialState.COMPLETE for t in trials) == TRIALS
    if storage.startswith("postgresql"):
        optuna.delete_study(study_name=name, storage=make_storage(storage))


@pytest.mark.slow
def test_postgres_heartbeat_retries_a_killed_workers_trial(tmp_path):
    _kill_one_worker_mid_trial(tmp_path, _postgres_url())


@pytest.mark.slow
def test_journal_heartbeat_retries_a_killed_workers_trial(tmp_path):
    _kill_one_worker_mid_trial(tmp_path, f"journal:///{tmp_path / 'study.log'}")


def test_counted_replaces_a_retried_trial_by_its_retry():
    s = optuna.create_study()
    s.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL))
    s.add_trial(optuna.trial.create_trial(value=1.0, system_attrs={"failed_trial": 0, "retry_history": [0]}))
    s.add_trial(optuna.trial.create_trial(value=2.0))
    assert counted(s.get_trials()) == 2


def _study(*states):
    s = optuna.create_study()
    for st in states:
        s.add_trial(optuna.trial.create_trial(state=st, value=1.0 if st == optuna.trial.TrialState.COMPLETE else None))
    return s


def test_running_trials_hold_their_slots_and_a_worker_waits_for_them():
    S = optuna.trial.TrialState
    assert next_step(_study(S.COMPLETE, S.COMPLETE).get_trials(), 3) == "run"
    assert next_step(_study(S.COMPLETE, S.COMPLETE, S.RUNNING).get_trials(), 3) == "wait"  # not "stop", not "run"
    assert next_step(_study(S.COMPLETE, S.FAIL, S.PRUNED).get_trials(), 3) == "stop"
    s = _study(S.COMPLETE, S.COMPLETE, S.FAIL)  # trial 2 died; its retry waits: run it even though 3 slots are taken
    s.add_trial(optuna.trial.create_trial(state=S.WAITING, system_attrs={"failed_trial": 2, "retry_history": [2]}))
    assert next_step(s.get_trials(), 3) == "run" and counted(s.get_trials()) == 2


def test_a_trial_created_after_the_last_slot_steps_aside():
    S = optuna.trial.TrialState
    s = _study(S.COMPLETE, S.RUNNING, S.RUNNING)  # two workers both saw one free slot and created trials 1 and 2
    assert not is_surplus(s.get_trials(), 1, 2) and is_surplus(s.get_trials(), 2, 2)
    s.add_trial(optuna.trial.create_trial(state=S.FAIL, user_attrs={SURPLUS: True}))
    assert counted(s.get_trials()) == 1  # a surplus trial is not a result
    r = _study(S.COMPLETE, S.FAIL)
    r.add_trial(optuna.trial.create_trial(state=S.RUNNING, system_attrs={"failed_trial": 1, "retry_history": [1]}))
    assert not is_surplus(r.get_trials(), 2, 2)  # a retry takes the slot of the trial it replaces


@pytest.mark.slow
def test_two_workers_racing_end_with_exactly_the_requested_trials(tmp_path):
    recipe = tmp_path / "r.yaml"
    fast = {**RECIPE, "stages": [{"train": {**RECIPE["stages"][0]["train"], "epochs": 1}}]}
    recipe.write_text(yaml.safe_dump(fast))
    storage, name = f"sqlite:///{tmp_path / 'study.db'}", "race"
    workers = [_worker(recipe, storage, name, tmp_path / f"w{i}", i) for i in range(3)]
    for w in workers:
        _, err = w.communicate(timeout=300)
        assert w.returncode == 0, err[-800:]
    trials = optuna.load_study(study_name=name, storage=make_storage(storage)).get_trials()
    assert counted(trials) == TRIALS
    assert sum(t.state == optuna.trial.TrialState.COMPLETE for t in trials) == TRIALS
