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
from edgevision.search.run import counted
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
