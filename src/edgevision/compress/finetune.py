"""Fine-tuning after a structural change (shrink, low-rank, QAT), through the one training loop.

Every compression stage that changes a model's structure ends the same way: open the artifact's data, train
the changed model for a few epochs with the normal :class:`~edgevision.train.trainer.Trainer` (optionally
distilling from the unchanged model), evaluate on the test split, and write ``model.pt`` + card with
:func:`~edgevision.train.stage.finish_model_stage`. This module holds those shared steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import Field
from torch import nn

from ..artifacts import Artifact
from ..data import AugmentConfig, BatchLoader, DataConfig, DataSplits
from ..errors import ConfigError, DataError
from ..runs import OVERWRITE_HELP, RunDir
from ..tasks import Task, build_task
from ..train.callbacks import Callback
from ..train.config import TrainConfig
from ..train.evaluate import data_for
from ..train.stage import make_loaders
from ..train.trainer import Trainer, evaluate_model, scalars
from ..utils.progress import console


class FinetuneConfig(TrainConfig):
    """Training options for the fine-tuning that follows a compression step (``epochs: 0`` skips it)."""

    epochs: int = Field(3, ge=0, le=100_000)
    lr: float = Field(0.01, gt=0, le=10)
    data: DataConfig | None = Field(None, description="default: the data the artifact was trained on")
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    distill: dict[str, Any] | None = Field(
        None, description="distil from the unchanged model while fine-tuning; options go to the distillation task")
    resume: bool = False
    overwrite: bool = Field(False, description=OVERWRITE_HELP)


@dataclass
class FinetuneContext:
    """Everything a compression stage needs to evaluate and fine-tune a model derived from ``art``."""

    art: Artifact
    task: Task
    data_cfg: DataConfig
    splits: DataSplits
    train: BatchLoader
    val: BatchLoader
    test: BatchLoader


def open_context(art: Artifact, cfg: FinetuneConfig) -> FinetuneContext:
    """Build the task and loaders of the data ``art`` was trained on (or ``cfg.data``)."""
    if not any(True for _ in art.model.parameters()):
        raise ConfigError(f"{art.path}: this stage changes a torch model's weights; give the float artifact "
                          f"(.pt, .evz), not an exported file")
    task = build_task(art.task)
    data_cfg, splits = data_for(art, cfg.data, task.name)
    if len(splits.train) == 0:
        raise DataError(f"{splits.source}: the train split is empty; fine-tuning needs training data")
    train, val, test = make_loaders(splits, cfg, cfg.augment, cfg.seed, data_cfg.num_workers)
    return FinetuneContext(art, task, data_cfg, splits, train, val, test)


def with_distillation(task: Task, teacher: nn.Module, options: dict[str, Any]) -> Task:
    """Hook: wrap ``task`` so training also matches ``teacher``'s outputs (knowledge distillation).

    The distillation task lives in :mod:`edgevision.compress.distill` (built separately); it must accept
    ``(task, teacher, **options)`` and return a :class:`Task`.
    """
    try:
        from .distill import distill_task  # type: ignore[attr-defined]
    except ImportError:
        raise ConfigError("distill: knowledge distillation (edgevision.compress.distill) is not available in this "
                          "build; remove the 'distill' option to fine-tune on the labels alone") from None
    return distill_task(task, teacher, **options)


def eval_metrics(model: nn.Module, ctx: FinetuneContext, loader: BatchLoader | None = None) -> dict[str, Any]:
    loader = loader or (ctx.test if len(ctx.splits.test) else ctx.val)
    return evaluate_model(model, ctx.task, loader)


def finetune(model: nn.Module, ctx: FinetuneContext, cfg: FinetuneConfig, run: RunDir,
             teacher: nn.Module | None = None, callbacks: tuple[Callback, ...] = ()) -> dict[str, Any]:
    """Train ``model`` in place for ``cfg.epochs`` (keeping the best val epoch); return loop facts for the card."""
    if cfg.epochs == 0:
        return {"epochs_run": 0}
    task = ctx.task
    if cfg.distill is not None:
        if teacher is None:
            raise ConfigError("distill: this stage has no unchanged model to distil from")
        task = with_distillation(task, teacher.eval(), cfg.distill)
    trainer = Trainer(model, task, ctx.train, ctx.val, cfg, run, callbacks=callbacks)
    state = trainer.fit(resume=cfg.resume)
    trainer.load_best()
    model.eval()
    out: dict[str, Any] = {"epochs_run": state.epoch, "best_epoch": state.best_epoch}
    if state.history:
        out["val"] = {k[4:]: v for k, v in state.history[state.best_epoch - 1].items() if k.startswith("val_")}
    return out


def primary(ctx: FinetuneContext, metrics: dict[str, Any]) -> float | None:
    v = metrics.get(ctx.task.primary)
    return float(v) if isinstance(v, int | float) else None


def compare(ctx: FinetuneContext, before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Test metrics of the parent and of the result, and the drop of the primary metric in points (×100)."""
    p0, p1 = primary(ctx, before), primary(ctx, after)
    drop = round((p0 - p1) * 100, 3) if p0 is not None and p1 is not None else None
    if ctx.task.mode == "min" and drop is not None:
        drop = -drop
    return {"parent": scalars(before, ""), "test": scalars(after, ""), "primary": ctx.task.primary,
            "drop_points": drop}


def say(text: str) -> None:
    console.print(text, highlight=False)
