"""Pruning schedules as a trainer callback: one-shot, iterative prune → retrain, and AGP.

- ``oneshot``: prune to the target before the first step, then fine-tune with the masks held.
- ``iterative`` (Han et al. 2015): k rounds of prune → retrain. Round r (0-based) starts at step
  ⌊r·T/k⌋ and prunes to density ``d_r = d_i·(d_f/d_i)^((r+1)/k)`` (d = 1 − s; d_i the density at the start),
  i.e. it removes the same fraction of the surviving weights each round.
- ``agp`` (Zhu & Gupta 2017, "To prune, or not to prune"): starting at step t₀ and every Δt steps for n
  steps, ``s_t = s_f + (s_i − s_f)·(1 − (t − t₀)/(n·Δt))³`` — prune fast while redundancy is high, then slowly;
  the epochs after t₀ + n·Δt fine-tune at the final sparsity.

The schedule is a pure function of the global step, and the masks are part of the callback's checkpoint
state, so ``resume`` continues exactly. Each event logs (step, sparsity) into :attr:`PruneSchedule.trace`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import nn

from . import criteria
from .masks import MaskCallback

if TYPE_CHECKING:
    from ...train.trainer import Trainer

Kind = Literal["oneshot", "iterative", "agp"]


@dataclass(frozen=True)
class Plan:
    """When pruning events happen (in optimizer steps) and what fraction of the way to the target each is."""

    kind: Kind
    total_steps: int
    rounds: int = 3
    agp_start: int = 0
    agp_end: int = 0
    agp_every: int = 1

    def events(self) -> dict[int, float]:
        """``{global step: progress in [0, 1]}``; progress 1 means the final target."""
        if self.kind == "oneshot" or self.total_steps == 0:
            return {0: 1.0}
        if self.kind == "iterative":
            return {r * self.total_steps // self.rounds: (r + 1) / self.rounds for r in range(self.rounds)}
        span = max(self.agp_end - self.agp_start, 1)
        steps = [*range(self.agp_start, self.agp_end, self.agp_every), self.agp_end]
        return {t: min(1.0, (t - self.agp_start) / span) for t in steps}


def sparsity_at(kind: Kind, progress: float, final: float, initial: float = 0.0) -> float:
    """Target sparsity of one layer at ``progress`` (see module doc)."""
    if kind == "oneshot" or progress >= 1.0:
        return final
    if kind == "iterative":  # density d_i·(d_f/d_i)^progress: the same fraction of survivors goes each round
        d_i, d_f = 1.0 - min(initial, final), 1.0 - final
        return 1.0 - d_i * (d_f / d_i) ** progress
    return final + (initial - final) * (1.0 - progress) ** 3


class PruneSchedule(MaskCallback):
    """Applies a :class:`Plan` with a criterion and per-layer (or global) target sparsities."""

    def __init__(self, params: dict[str, nn.Parameter], criterion: str, targets: dict[str, float] | float,
                 plan: Plan) -> None:
        super().__init__(params)
        self.criterion, self.targets, self.plan = criterion, targets, plan
        self.events = plan.events()
        self.initial = {n: float((p == 0).float().mean()) for n, p in params.items()}
        self.gammas: dict[str, float] = {}
        self.trace: list[dict[str, Any]] = []

    def prune(self, progress: float, optimizer: torch.optim.Optimizer | None = None, step: int = 0) -> None:
        """Prune to the schedule's sparsity at ``progress``; weights already pruned stay pruned."""
        weights = {n: p.detach() for n, p in self.params.items()}
        alive = {n: w != 0 for n, w in weights.items()}
        if isinstance(self.targets, dict):
            goal: dict[str, float] | float = {n: sparsity_at(self.plan.kind, progress, t, self.initial[n])
                                              for n, t in self.targets.items()}
        else:
            init = sum(self.initial[n] * p.numel() for n, p in self.params.items()) / sum(
                p.numel() for p in self.params.values())
            goal = sparsity_at(self.plan.kind, progress, self.targets, init)
        masks, self.gammas = criteria.masks_for_sparsity(self.criterion, weights, goal, alive)
        self.set_masks({n: m & alive[n] for n, m in masks.items()}, optimizer)
        total = sum(p.numel() for p in self.params.values())
        zeros = sum(int((~m).sum()) for m in self.masks.values())
        self.trace.append({"step": step, "progress": round(progress, 6), "sparsity": zeros / max(total, 1)})

    def _global_step(self, trainer: Trainer) -> int:
        n = len(trainer.train_loader)
        if trainer.cfg.max_steps_per_epoch:
            n = min(n, trainer.cfg.max_steps_per_epoch)
        return trainer.state.epoch * n + trainer.step_in_epoch + 1

    def on_fit_start(self, trainer: Trainer) -> None:
        if not self.masks and 0 in self.events:  # a resumed run restored its masks already
            self.prune(self.events[0], trainer.opt, 0)

    def on_step_end(self, trainer: Trainer) -> None:
        step = self._global_step(trainer)
        if step in self.events and step > 0:
            self.prune(self.events[step], trainer.opt, step)
        else:
            self.apply(trainer.opt)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "trace": list(self.trace), "initial": dict(self.initial)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.trace = list(state.get("trace") or [])
        self.initial = dict(state.get("initial") or self.initial)
