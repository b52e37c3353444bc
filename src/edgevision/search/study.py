"""Optuna plumbing: storages (SQLite, PostgreSQL/MySQL, journal file), samplers and pruners.

Several processes — on one machine or many — share a study by pointing at the same storage: an RDB URL
(``sqlite:///study.db`` for processes on one machine or a shared disk, ``postgresql://user:pw@host/db`` across
machines) or a journal file (``journal:///shared/study.log``, a file on a shared filesystem, no server needed).
Every storage runs a heartbeat (Optuna's own for RDB URLs; for journal files :class:`HeartbeatJournalStorage` keeps
the beat in a trial system attribute): a trial whose worker died is marked failed once its heartbeat is older than
the grace period, and retried once with the same parameters by the next trial any worker starts.
"""

from __future__ import annotations

import contextlib
import importlib.util
import random
import re
import time
import warnings
from pathlib import Path

import optuna
from optuna.storages import JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages._heartbeat import BaseHeartbeat

from ..errors import ConfigError
from ..utils.seed import derive_seed
from .config import PrunerSpec

HEARTBEAT_S, GRACE_S = 20, 120  # defaults: a beat every 20 s; a trial silent for 2 minutes is failed and retried
optuna.logging.set_verbosity(optuna.logging.WARNING)  # our own one line per trial replaces Optuna's log


def redact(url: str) -> str:
    """Hide a password in a storage URL: ``postgresql://u:secret@h/db`` → ``postgresql://u:***@h/db``."""
    return re.sub(r"(//[^:/@]+:)[^@]*@", r"\1***@", url)


def default_storage(out: Path) -> str:
    return f"sqlite:///{(out / 'study.db').resolve()}"


class HeartbeatJournalStorage(JournalStorage, BaseHeartbeat):
    """A journal-file storage with Optuna's heartbeat protocol, which Optuna's own JournalStorage lacks.

    The beat is the wall-clock time in the trial's system attribute ``edgevision:heartbeat`` (one journal line per
    beat); a RUNNING trial whose last beat (or start) is older than ``grace`` seconds is stale.
    """

    KEY = "edgevision:heartbeat"

    def __init__(self, backend: optuna.storages.journal.BaseJournalBackend, heartbeat: int, grace: int) -> None:
        super().__init__(backend)
        self._heartbeat, self._grace = heartbeat, grace

    def record_heartbeat(self, trial_id: int) -> None:
        # UpdateFinishedTrialError: another worker judged this trial stale and failed it; nothing to beat for
        with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
            self.set_trial_system_attr(trial_id, self.KEY, time.time())

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        now = time.time()
        running = self.get_all_trials(study_id, deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
        return [t._trial_id for t in running
                if now - float(t.system_attrs.get(self.KEY, t.datetime_start.timestamp() if t.datetime_start else now))
                > self._grace]

    def get_heartbeat_interval(self) -> int | None:
        return self._heartbeat

    def get_heartbeat_stale_trial_callback(self) -> RetryHeartbeatStaleTrialCallback:
        return RetryHeartbeatStaleTrialCallback(max_retry=1)


def with_driver(url: str) -> str:
    """``postgresql://`` with the driver that is installed: SQLAlchemy ≥ 2.1 picks psycopg 3 for a bare
    ``postgresql://``, but the ``postgres`` extra (and most machines) have psycopg2."""
    if not url.startswith("postgresql://") or importlib.util.find_spec("psycopg") is not None:
        return url
    return "postgresql+psycopg2://" + url.removeprefix("postgresql://") if importlib.util.find_spec("psycopg2") \
        else url


def make_storage(url: str, heartbeat: int = HEARTBEAT_S, grace: int = GRACE_S) -> optuna.storages.BaseStorage:
    """An Optuna storage for ``url`` with a heartbeat every ``heartbeat`` s and a ``grace`` period; a URL Optuna
    cannot open is a one-line ConfigError."""
    if url.startswith("journal://"):
        from optuna.storages.journal import JournalFileBackend

        path = Path(url.removeprefix("journal://"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return HeartbeatJournalStorage(JournalFileBackend(str(path)), heartbeat, grace)
    if "://" not in url:
        raise ConfigError(f"--storage {redact(url)!r}: expected an RDB URL (sqlite:///study.db, "
                          f"postgresql://user:pw@host/db) or journal:///path/to/study.log")
    url = with_driver(url)
    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        return _rdb_storage(url, kwargs, heartbeat, grace)
    except ModuleNotFoundError as e:
        raise ConfigError(f"--storage {redact(url)}: database driver {e.name!r} is not installed "
                          f"(e.g. pip install psycopg2-binary for PostgreSQL)") from None
    except Exception as e:  # sqlalchemy / optuna errors: bad URL, unreachable server, ...
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise ConfigError(f"--storage {redact(url)}: cannot open the study storage ({first})") from None


RACES = ("already exists", "database is locked", "unique constraint")  # two workers creating one new database


def _rdb_storage(url: str, kwargs: dict, heartbeat: int = HEARTBEAT_S, grace: int = GRACE_S,
                 attempts: int = 6) -> RDBStorage:
    """``RDBStorage(url)``, retried when another worker is creating the same new database at the same moment
    (SQLite then reports a table that "already exists" or a locked file); any other error is raised at once."""
    for attempt in range(attempts):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return RDBStorage(url, engine_kwargs=kwargs, heartbeat_interval=heartbeat, grace_period=grace,
                                  heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=1))
        except Exception as e:
            if attempt == attempts - 1 or not any(r in str(e).lower() for r in RACES):
                raise
            time.sleep(0.2 * (attempt + 1) + random.random() * 0.3)
    raise AssertionError("unreachable")


def make_sampler(kind: str, seed: int | None, worker: int) -> optuna.samplers.BaseSampler:
    """TPE (multivariate, with the constant liar so parallel workers do not pile onto one point) or random.

    Each worker gets its own seed derived from ``(seed, worker)``, so seeded workers do not repeat each other.
    """
    s = None if seed is None else derive_seed(seed, worker)
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=s)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=s, multivariate=True, group=True, constant_liar=True,
                                          n_startup_trials=10)


def make_pruner(spec: PrunerSpec, n_objectives: int) -> optuna.pruners.BasePruner:
    """Median, percentile or Hyperband pruning on per-epoch values; none for multi-objective studies (Optuna
    cannot prune them, and pruning by accuracy alone would cut the fast, less accurate end of the front)."""
    if spec.kind == "none" or n_objectives > 1:
        return optuna.pruners.NopPruner()
    if spec.kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=spec.startup_trials, n_warmup_steps=spec.warmup_epochs)
    if spec.kind == "percentile":
        return optuna.pruners.PercentilePruner(100 - spec.percentile, n_startup_trials=spec.startup_trials,
                                               n_warmup_steps=spec.warmup_epochs)
    return optuna.pruners.HyperbandPruner(min_resource=max(1, spec.warmup_epochs))


def open_study(name: str, storage: str, directions: list[str], sampler: optuna.samplers.BaseSampler,
               pruner: optuna.pruners.BasePruner, heartbeat: int = HEARTBEAT_S, grace: int = GRACE_S) -> optuna.Study:
    """Create the study, or join it if another worker (or an earlier run) already made it."""
    try:
        return optuna.create_study(study_name=name, storage=make_storage(storage, heartbeat, grace),
                                   directions=directions,
                                   sampler=sampler, pruner=pruner, load_if_exists=True)
    except ValueError as e:  # e.g. an existing study with other directions
        raise ConfigError(f"study {name!r} in {redact(storage)}: {str(e).splitlines()[0]}") from None
