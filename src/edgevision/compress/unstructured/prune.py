"""The ``prune`` stage: unstructured magnitude pruning with a criterion, a target and a schedule.

Han et al. (2015, "Learning both weights and connections") train, remove small weights, and retrain; Zhu &
Gupta (2017) raise the sparsity gradually (AGP). Reference doc 003 compares the naive, layer-wise and
neuron-wise thresholds on fully connected layers. Here:

- *criterion* — how weights are ranked (:mod:`.criteria`);
- *target* — ``sparsity`` as one number (every selected layer; the ``global`` criterion ranks across layers)
  or a dict of layer globs (``{"fc1": 0.97, "conv*": 0.8}``), or ``gamma`` to apply the formula directly;
- *schedule* — ``oneshot``, ``iterative`` or ``agp`` (:mod:`.schedule`), with fine-tuning through the trainer
  while :class:`~.masks.MaskCallback` keeps pruned weights at exactly zero.

The result is a normal ``model.pt`` with zeros in it; its card and ``meta['compress']['prune']`` record the
sparsity per layer. ``edgevision pack`` turns those zeros into bytes saved.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from ...runs import RunDir
from ...stages import StageResult, run_stage, stage
from ...utils.io import write_json
from ...utils.progress import console
from ..retrain import FinetuneConfig, already_done, evaluate_test, finetune, finish, open_input, weights_of
from . import criteria
from .histograms import write_histograms
from .masks import MaskCallback
from .schedule import Plan, PruneSchedule
from .targets import resolve, select, weight, zero_fraction

Sparsity = float | dict[str, float]


class PruneConfig(FinetuneConfig):
    """``edgevision prune``: criterion, target, schedule, and the fine-tuning options of ``train``."""

    criterion: Literal["naive", "layerwise", "neuronwise", "global"] = "layerwise"
    sparsity: Sparsity | None = Field(None, description="fraction of weights to remove: one number, or {glob: s}")
    gamma: Sparsity | None = Field(None, description="apply the criterion's formula with this γ instead")
    layers: list[str] = Field(default_factory=lambda: ["*"], description="globs of conv/linear layers to prune")
    pruning_schedule: Literal["oneshot", "iterative", "agp"] = "oneshot"
    rounds: int = Field(3, ge=1, le=100, description="prune → retrain rounds (iterative)")
    agp_start: float = Field(0.0, ge=0, description="epoch where AGP starts")
    agp_end: float | None = Field(None, gt=0, description="epoch where AGP reaches the target (default ⅔ of epochs)")
    agp_every: int | None = Field(None, ge=1, description="optimizer steps between AGP pruning events")

    @model_validator(mode="after")
    def _check(self) -> PruneConfig:
        if (self.sparsity is None) == (self.gamma is None):
            raise ValueError("give exactly one of sparsity (a target) or gamma (a threshold parameter)")
        vals = self.sparsity.values() if isinstance(self.sparsity, dict) else [self.sparsity]
        if isinstance(self.sparsity, dict) and not self.sparsity:
            raise ValueError("an empty sparsity dict prunes nothing")
        if self.sparsity is not None and not all(0 <= v < 1 for v in vals):
            raise ValueError(f"sparsity values must be in [0, 1), got {self.sparsity}")
        if self.criterion == "global" and isinstance(self.sparsity, dict):
            raise ValueError("criterion 'global' ranks all layers together: give one sparsity, not a dict")
        if self.gamma is not None and self.pruning_schedule != "oneshot":
            raise ValueError("gamma applies the formula once: use pruning_schedule 'oneshot' (or give sparsity)")
        if self.pruning_schedule != "oneshot" and self.epochs == 0:
            raise ValueError(f"pruning_schedule {self.pruning_schedule!r} prunes during training: epochs must be ≥ 1")
        if self.pruning_schedule != "oneshot" and self.keep == "best":
            raise ValueError("keep 'best' could pick a less sparse epoch of a gradual schedule; use keep 'last'")
        if self.agp_end is not None and not self.agp_start < self.agp_end <= self.epochs:
            raise ValueError(f"need agp_start < agp_end ≤ epochs, got {self.agp_start}, {self.agp_end}, {self.epochs}")
        return self


def make_plan(cfg: PruneConfig, steps_per_epoch: int) -> Plan:
    total = cfg.epochs * steps_per_epoch
    end_epoch = cfg.agp_end if cfg.agp_end is not None else max(cfg.epochs * 2 / 3, cfg.agp_start + 1e-9)
    start, end = round(cfg.agp_start * steps_per_epoch), round(end_epoch * steps_per_epoch)
    every = cfg.agp_every or max(1, (end - start) // 30)
    return Plan(cfg.pruning_schedule, total, rounds=cfg.rounds, agp_start=start, agp_end=max(end, start + 1),
                agp_every=every)


def make_callback(cfg: PruneConfig, params: dict[str, Any], selected: dict[str, Any],
                  steps_per_epoch: int) -> MaskCallback:
    """The callback that prunes on schedule (or once, for ``gamma``) and keeps the masks."""
    if cfg.gamma is not None:
        gamma = resolve(cfg.gamma, selected, "gamma") if isinstance(cfg.gamma, dict) else cfg.gamma
        chosen = {n: p for n, p in params.items() if not isinstance(gamma, dict) or n in gamma}
        masks = criteria.masks_for_gamma(cfg.criterion, {n: p.detach() for n, p in chosen.items()}, gamma,
                                         {n: p.detach() != 0 for n, p in chosen.items()})
        cb = MaskCallback(chosen)
        cb.set_masks(masks)
        return cb
    targets: dict[str, float] | float = (resolve(cfg.sparsity, selected, "sparsity")
                                         if isinstance(cfg.sparsity, dict) else float(cfg.sparsity))
    chosen = {n: p for n, p in params.items() if not isinstance(targets, dict) or n in targets}
    return PruneSchedule(chosen, cfg.criterion, targets, make_plan(cfg, steps_per_epoch))


@stage("prune", PruneConfig, input_field="artifact", summary="unstructured pruning with fine-tuning")
def run_prune(cfg: PruneConfig, out: Path) -> StageResult:
    run = RunDir(out)
    if (done := already_done(run, cfg)) is not None:
        return done
    o = open_input(cfg, run)
    selected = select(o.model, cfg.layers, "layers")
    params = {n: weight(m) for n, m in selected.items()}
    before = weights_of(selected)
    steps = len(o.loaders[0]) if not cfg.max_steps_per_epoch else min(len(o.loaders[0]), cfg.max_steps_per_epoch)
    cb = make_callback(cfg, params, selected, max(steps, 1))
    console.print(f"prune {len(cb.params)} layers of {o.art.arch.name}: criterion {cfg.criterion}, "
                  f"{cfg.pruning_schedule}, {cfg.epochs} fine-tuning epochs", highlight=False, soft_wrap=True)
    metrics = finetune(o, cfg, run, [cb])
    cb.apply()  # the final masks, whatever the last event was
    sp = zero_fraction(o.model, selected)
    metrics = evaluate_test(o, run, metrics)
    write_histograms(run.path / "weights_hist.json", "prune", before, weights_of(selected))
    if isinstance(cb, PruneSchedule):
        write_json(run.path / "prune_trace.json", {"events": cb.trace, "gamma": cb.gammas})
    record = {"criterion": cfg.criterion, "schedule": cfg.pruning_schedule, "sparsity": sp,
              "gamma": getattr(cb, "gammas", None) or cfg.gamma}
    console.print(f"sparsity: {sp['weights']:.2%} of conv/linear weights, {sp['params']:.2%} of all parameters",
                  highlight=False, soft_wrap=True)
    return finish(o, run, "prune", metrics, {"sparsity": sp}, {"prune": record})


def prune(artifact: str | Path, out: str | Path | None = None, **options: Any) -> StageResult:
    """Prune an artifact's conv/linear weights and fine-tune; ``edgevision prune`` in Python.

    Example:
        >>> edgevision.prune("runs/lenet/train", sparsity={"fc1": 0.97, "*": 0.9}, criterion="naive",
        ...                  pruning_schedule="agp", epochs=20, out="runs/lenet/prune")
    """
    return run_stage("prune", {"artifact": str(artifact), **options}, out)
