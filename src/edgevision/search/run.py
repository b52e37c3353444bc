"""The ``search`` stage: an Optuna study over any recipe's keys, run by one or more workers.

Each trial is the recipe with sampled values, run in ``<out>/trials/<number>/`` (report stages skipped); its
objectives are read from the cards it leaves (or measured, for latency). With one objective the study keeps the
best trial and can prune trials from their per-epoch validation values; with two or more it keeps the Pareto
front. ``--trials N`` is the total of finished trials in the study (exactly: see :mod:`.slots`), so rerunning the
same command resumes, and workers started on other machines with the same ``--storage`` add to the same count.
Every finished trial rewrites ``trials.json`` (the report's source) from the storage.
"""

from __future__ import annotations

import copy
import math
import multiprocessing as mp
import os
import shutil
import socket
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import torch

from ..config import validate
from ..configs.report import SearchConfig
from ..errors import ConfigError, EdgevisionError
from ..recipe import load_recipe, plan, run
from ..runs import RunDir, make_card
from ..stages import StageResult, run_stage, stage
from ..train.callbacks import extra_callbacks
from ..utils.io import write_yaml
from ..utils.progress import console
from .config import SearchSection
from .export import export_trials
from .objectives import Objective, TrialReporter, read_value, resolve_objectives
from .slots import SURPLUS, State, StudyFull, is_surplus, next_step
from .space import corners, sample_recipe, set_path
from .study import GRACE_S, HEARTBEAT_S, default_storage, make_pruner, make_sampler, open_study, redact


@dataclass(frozen=True)
class Plan:
    """Everything a worker needs, derived once from the config and the recipe."""

    recipe: dict[str, Any]
    section: SearchSection
    objectives: tuple[Objective, ...]
    study: str
    storage: str
    sampler: str
    seed: int | None
    trials: int
    out: Path
    threads: int
    verbose: bool
    heartbeat: int = HEARTBEAT_S
    grace: int = GRACE_S

    @property
    def directions(self) -> list[str]:
        return [o.direction for o in self.objectives]

    def open(self, worker: int) -> optuna.Study:
        """Create or join the study as worker ``worker`` (its own sampler seed)."""
        return open_study(self.study, self.storage, self.directions, make_sampler(self.sampler, self.seed, worker),
                          make_pruner(self.section.pruner, len(self.objectives)), self.heartbeat, self.grace)


def make_plan(cfg: SearchConfig, out: Path) -> Plan:
    """Read the recipe, validate its ``search:`` section and every corner of the space before any trial runs."""
    rc = load_recipe(cfg.recipe)
    if not rc.search:
        raise ConfigError(f"{cfg.recipe}: no 'search:' section (see `edgevision search --help`)")
    section = validate(SearchSection, rc.search, prefix="search")
    recipe = rc.model_dump(mode="json", exclude={"search"})
    recipe["stages"] = [s for s in recipe["stages"] if next(iter(s)) not in section.skip_stages]
    if not recipe["stages"]:
        raise ConfigError("search.skip_stages: every stage of the recipe would be skipped")
    objectives = tuple(resolve_objectives(section.objectives, recipe))
    for values in corners(section.params):  # a space that can produce an invalid recipe fails now, not in trial 7
        trial = copy.deepcopy(recipe)
        for path, v in values.items():
            set_path(trial, path, v)
        plan(load_recipe(trial), out / "trials" / "check")
    threads = cfg.threads or max(1, (os.cpu_count() or 1) // cfg.workers)
    return Plan(recipe, section, objectives, cfg.study or section.study or rc.name,
                cfg.storage or default_storage(out), cfg.sampler or section.sampler,
                cfg.seed if cfg.seed is not None else section.seed, cfg.trials or section.trials, out, threads,
                cfg.verbose, cfg.heartbeat, cfg.grace)


def _objective(p: Plan, trial: optuna.Trial) -> float | tuple[float, ...]:
    """Run one trial's recipe and return its objective values."""

    if is_surplus(trial.study.get_trials(deepcopy=False), trial.number, p.trials):
        trial.set_user_attr(SURPLUS, True)
        raise StudyFull(f"trial {trial.number}: the study already holds {p.trials} trials")
    trial_dir = p.out / "trials" / f"{trial.number:04d}"
    trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
    trial.set_user_attr("run_dir", str(trial_dir.resolve()))
    recipe = sample_recipe(trial, p.recipe, p.section.params)
    recipe["name"] = f"{p.recipe.get('name', 'recipe')}-trial{trial.number}"
    write_yaml(trial_dir / "trial.yaml", {"params": trial.params, "recipe": recipe})
    first = p.objectives[0]
    reporter = TrialReporter(trial, first.stage, first.history_key or "", prune=len(p.objectives) == 1
                             and first.history_key is not None and p.section.pruner.kind != "none")
    quiet = console.quiet
    console.quiet = not p.verbose
    try:
        with extra_callbacks(reporter):
            run(recipe, out=trial_dir)
        values = tuple(read_value(o, trial_dir) for o in p.objectives)
    except EdgevisionError as e:
        trial.set_user_attr("error", str(e)[:300])
        raise
    finally:
        console.quiet = quiet
        if not p.section.keep_checkpoints:
            for ck in trial_dir.glob("*/checkpoints"):
                shutil.rmtree(ck, ignore_errors=True)
    if not all(math.isfinite(v) for v in values):
        trial.set_user_attr("error", f"non-finite objective values {values}")
        raise EdgevisionError(f"trial {trial.number}: objective values {values} are not finite")
    return values[0] if len(values) == 1 else values


def _log_trial(p: Plan):
    def log(study: optuna.Study, t: optuna.trial.FrozenTrial) -> None:
        if t.user_attrs.get(SURPLUS):
            return
        vals = ", ".join(f"{o.name} {v:.4g}" for o, v in zip(p.objectives, t.values or []))
        why = t.user_attrs.get("error") or (f"after epoch {t.user_attrs['pruned_after_epoch']}"
                                            if "pruned_after_epoch" in t.user_attrs else "")
        params = ", ".join(f"{k.rsplit('.', 1)[-1]}={v:.4g}" if isinstance(v, float) else f"{k.rsplit('.', 1)[-1]}={v}"
                           for k, v in t.params.items())
        secs = t.duration.total_seconds() if t.duration else 0.0
        console.print(f"trial {t.number} {t.state.name.lower()} {vals or why} ({params}) {secs:.0f}s", highlight=False)
        export_trials(study, p)
    return log


def _wait_line(p: Plan, trials: list[optuna.trial.FrozenTrial]) -> str:
    running = [t for t in trials if t.state == State.RUNNING]
    who = ", ".join(f"{t.number} ({t.user_attrs.get('worker', '?')})" for t in running)
    return (f"waiting for running trial(s) {who} to finish, or to be failed and retried if silent for {p.grace} s")


def run_worker(p: Plan, index: int = 0, timeout: float | None = None) -> None:
    """One worker: join (or create) the study and run trials until it holds exactly ``p.trials`` finished ones
    (the rule in :mod:`.slots`): a worker whose remaining slots are held by running trials waits for them, fails
    the stale ones and runs their retries."""
    torch.set_num_threads(p.threads)
    study = p.open(index)
    end = None if timeout is None else time.monotonic() + timeout
    said = False
    while end is None or time.monotonic() < end:
        with warnings.catch_warnings():  # a dead worker's trial: failed, and its retry enqueued
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
        trials = study.get_trials(deepcopy=False)
        step = next_step(trials, p.trials)
        if step == "stop":
            return
        if step == "wait":
            if not said:
                console.print(_wait_line(p, trials), highlight=False)
            said = True
            time.sleep(min(p.heartbeat, p.grace))
            continue
        said = False
        left = None if end is None else max(end - time.monotonic(), 0.0)
        study.optimize(lambda t: _objective(p, t), n_trials=1, timeout=left, catch=(EdgevisionError,),
                       callbacks=[_log_trial(p)])


def _worker_main(cfg: dict[str, Any], out: str, index: int) -> None:
    os.environ["EDGEVISION_PROGRESS"] = "0"
    c = SearchConfig.model_validate(cfg)
    run_worker(make_plan(c, Path(out)), index, c.timeout)


def _spawn(cfg: SearchConfig, out: Path) -> list[mp.Process]:
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_worker_main, args=(cfg.model_dump(), str(out), i), daemon=False)
             for i in range(1, cfg.workers)]
    for proc in procs:
        proc.start()
    return procs


@stage("search", SearchConfig, summary="hyper-parameter search over a recipe (Optuna; Pareto front)")
def run_search(cfg: SearchConfig, out: Path) -> StageResult:
    out.mkdir(parents=True, exist_ok=True)
    p = make_plan(cfg, out)
    t0 = time.perf_counter()
    p.open(0)  # create it once, before workers race to
    console.print(f"search {p.study}: {len(p.section.params)} parameters, objectives: "
                  f"{'; '.join(f'{o.name} ({o.direction})' for o in p.objectives)}; storage {redact(p.storage)}; "
                  f"{cfg.workers} worker(s) × {p.threads} thread(s)", highlight=False)
    procs = _spawn(cfg, out)
    try:
        run_worker(p, 0, cfg.timeout)
    finally:
        for proc in procs:
            proc.join()
    failed = [i + 1 for i, proc in enumerate(procs) if proc.exitcode != 0]
    summary = export_trials(p.open(0), p)
    card = make_card("search", metrics=summary["counts"] | {"best": summary["best"]}, parent=str(cfg.recipe),
                     study=p.study, storage=redact(p.storage), directions=p.directions,
                     objectives=[o.name for o in p.objectives], workers=cfg.workers, threads=p.threads,
                     seconds=round(time.perf_counter() - t0, 1), best_artifact=summary.get("best_artifact"))
    RunDir(out).write_card(card)
    if failed:
        raise EdgevisionError(f"search workers {failed} exited with an error; the study in {redact(p.storage)} "
                              f"keeps their finished trials — rerun the same command to continue")
    best = summary.get("best_artifact")
    return StageResult(out, Path(best) if best else None, card)


def search(recipe: str | Path, out: str | Path | None = None, **options: Any) -> StageResult:
    """Run (or resume, or join) a hyper-parameter search over ``recipe``'s ``search:`` section.

    Example:
        >>> edgevision.search("pennfudan-seg-search", trials=30, storage="sqlite:///study.db")
    """
    return run_stage("search", {"recipe": str(recipe), **options}, out)


def describe(res: StageResult) -> str:
    """One line: trial counts, the best trial, and where the trials are."""
    m = res.card.get("metrics", {})
    best = m.get("best") or {}
    return (f"{m.get('complete', 0)} complete, {m.get('pruned', 0)} pruned, {m.get('fail', 0)} failed trials; best "
            f"trial {best.get('number')} {best.get('values')}; trials in {res.run_dir / 'trials.json'}")
