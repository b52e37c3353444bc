"""The ``prune`` stage: unstructured magnitude pruning with a criterion, a target and a schedule.

Han et al. (2015, "Learning both weights and connections") train, remove small weights, and retrain; Zhu &
Gupta (2017) raise the sparsity gradually (AGP). Björgvinsdóttir & Seibold (2016) compares the naive, layer-wise and
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
from typing import Any

from torch import nn

from ...config import dump
from ...configs.compress import PruneConfig
from ...runs import RunDir
from ...stages import StageResult, run_stage, stage
from ...train.objects import module_input
from ...utils.io import write_json
from ...utils.progress import console
from ..finetune import already_done, evaluate_test, finetune, finish, open_context, weights_of
from . import criteria
from .histograms import write_histograms
from .masks import MaskCallback
from .schedule import Plan, PruneSchedule
from .targets import resolve, select, weight, zero_fraction


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
    ctx = open_context(cfg)
    run.mkdir().write_config(dump(cfg))
    model = ctx.art.model
    selected = select(model, cfg.layers, "layers")
    params = {n: weight(m) for n, m in selected.items()}
    before = weights_of(selected)
    steps = len(ctx.train) if not cfg.max_steps_per_epoch else min(len(ctx.train), cfg.max_steps_per_epoch)
    cb = make_callback(cfg, params, selected, max(steps, 1))
    console.print(f"prune {len(cb.params)} layers of {ctx.art.arch.label}: criterion {cfg.criterion}, "
                  f"{cfg.pruning_schedule}, {cfg.epochs} fine-tuning epochs", highlight=False, soft_wrap=True)
    metrics = finetune(model, ctx, cfg, run, [cb])
    cb.apply()  # the final masks, whatever the last event was
    sp = zero_fraction(model, selected)
    metrics = evaluate_test(model, ctx, run, metrics)
    write_histograms(run.path / "weights_hist.json", "prune", before, weights_of(selected))
    if isinstance(cb, PruneSchedule):
        write_json(run.path / "prune_trace.json", {"events": cb.trace, "gamma": cb.gammas})
    record = {"criterion": cfg.criterion, "schedule": cfg.pruning_schedule, "sparsity": sp,
              "gamma": getattr(cb, "gammas", None) or cfg.gamma}
    console.print(f"sparsity: {sp['weights']:.2%} of conv/linear weights, {sp['params']:.2%} of all parameters",
                  highlight=False, soft_wrap=True)
    return finish(model, ctx, run, "prune", metrics, {"sparsity": sp}, {"prune": record})


def prune(artifact: str | Path | nn.Module, out: str | Path | None = None, **options: Any) -> StageResult:
    """Prune an artifact's conv/linear weights and fine-tune; ``edgevision prune`` in Python.

    Example:
        >>> edgevision.prune("runs/lenet/train", sparsity={"fc1": 0.97, "*": 0.9}, criterion="naive",
        ...                  pruning_schedule="agp", epochs=20, out="runs/lenet/prune")
    """
    artifact, out, options = module_input(artifact, "prune", out, options)
    return run_stage("prune", {"artifact": str(artifact), **options}, out)
