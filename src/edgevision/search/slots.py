"""The stopping rule of a shared study: ``--trials N`` means exactly N finished trials, whatever the workers do.

A trial holds one of the N slots from the moment it is created: finished (complete, pruned or failed), running or
waiting (a retry queued for a trial whose worker died). A trial that was failed by the heartbeat and retried gives
its slot to its retry. So a worker

- runs a trial while fewer than N slots are held, or while a retry is waiting;
- waits while the remaining slots are held by running trials — they either finish, or go stale and are failed
  (``optuna.storages.fail_stale_trials``) and retried by whoever is still there;
- stops when N slots hold finished trials.

Two workers that create a trial at the same moment may both see a free slot; trial numbers decide (the storage
hands them out in order), and the later one steps aside before it runs (``surplus``), so the study never ends with
more than N results.
"""

from __future__ import annotations

from collections.abc import Sequence

import optuna

from ..errors import EdgevisionError

State = optuna.trial.TrialState
FINISHED = (State.COMPLETE, State.PRUNED, State.FAIL)
SURPLUS = "edgevision:surplus"


class StudyFull(EdgevisionError):
    """Raised inside a trial that was created after the study's last slot was taken."""


def slots(trials: Sequence[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    """The trials that hold a slot, by trial number: everything but retried failures and surplus trials."""
    retried = {n for t in trials for n in t.system_attrs.get("retry_history", [])}
    return sorted((t for t in trials if t.number not in retried and not t.user_attrs.get(SURPLUS)
                   and t.state in (*FINISHED, State.RUNNING, State.WAITING)), key=lambda t: t.number)


def counted(trials: Sequence[optuna.trial.FrozenTrial]) -> int:
    """Finished trials that count towards ``--trials`` (a retried failure is replaced by its retry)."""
    return sum(t.state in FINISHED for t in slots(trials))


def next_step(trials: Sequence[optuna.trial.FrozenTrial], total: int) -> str:
    """``"run"``, ``"wait"`` or ``"stop"`` for a worker of a study that should end with ``total`` finished trials."""
    held = slots(trials)
    if any(t.state == State.WAITING for t in held):
        return "run"
    if sum(t.state in FINISHED for t in held) >= total:
        return "stop"
    return "run" if len(held) < total else "wait"


def is_surplus(trials: Sequence[optuna.trial.FrozenTrial], number: int, total: int) -> bool:
    """Whether trial ``number`` (running, just created) came after the last of ``total`` slots was taken."""
    held = slots(trials)
    mine = next((t for t in held if t.number == number), None)
    if mine is None or "failed_trial" in mine.system_attrs:
        return False  # a retry takes the slot of the trial it replaces
    return [t.number for t in held].index(number) >= total
