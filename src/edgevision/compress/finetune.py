"""The one fine-tuning path of the compression stages (prune, cluster, shrink, lowrank, quantize's QAT).

Every such stage opens its input artifact with the data and task it was trained on (:func:`open_context`),
changes the model, fine-tunes it through the normal :class:`~edgevision.train.trainer.Trainer` with the stage's
callbacks (:func:`finetune`), evaluates on the test split and writes ``model.pt`` + card.

With ``distill`` set, fine-tuning also matches the unchanged model's outputs (Hinton et al. 2015): the task is
wrapped in a :class:`~edgevision.compress.distill.task.DistillTask` whose teacher is a frozen copy of the input
model, run online on the same batch, so the loss is ``α·T²·KL(p_T ‖ q_S) + (1 − α)·hard`` (``loss_soft`` and
``loss_hard`` in ``metrics.jsonl``).
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..artifacts import Artifact, load_artifact
from ..configs.compress import FinetuneConfig
from ..configs.distill import KDConfig
from ..data import BatchLoader, DataConfig, DataSplits
from ..errors import ConfigError, DataError
from ..models import onnxnet
from ..models.base import get_arch
from ..runs import RunDir, claim
from ..stages import StageResult
from ..tasks import Task, build_task
from ..train.callbacks import Callback
from ..train.evaluate import data_for
from ..train.stage import finish_model_stage, make_loaders, write_eval
from ..train.trainer import Trainer, evaluate_model, scalars
from ..utils.progress import console
from ..utils.seed import seed_everything
from .distill.task import DistillTask, PhaseSchedule

__all__ = ["FinetuneConfig", "FinetuneContext", "already_done", "compare", "eval_metrics", "evaluate_test",
           "finetune", "finish", "open_context", "primary", "say", "tidy", "weights_of", "with_distillation"]


@dataclass
class FinetuneContext:
    """Everything a compression stage needs to evaluate and fine-tune a model derived from ``art``.

    ``teacher`` is a frozen copy of the input model when the stage distils (``cfg.distill``), else None.
    """

    art: Artifact
    task: Task
    data_cfg: DataConfig
    splits: DataSplits
    train: BatchLoader
    val: BatchLoader
    test: BatchLoader
    teacher: nn.Module | None = None


def already_done(run: RunDir, cfg: FinetuneConfig) -> StageResult | None:
    """A finished run is reused with ``resume``; a folder holding a run is refused unless ``resume`` or
    ``overwrite`` (see :func:`edgevision.runs.claim`)."""
    if claim(run, resume=cfg.resume, overwrite=cfg.overwrite) == "finished":
        return StageResult(run.path, run.artifact(), run.card())
    return None


def open_context(cfg: FinetuneConfig, art: Artifact | None = None, trainable: bool = True) -> FinetuneContext:
    """Load ``cfg.artifact`` (unless given) and build its task and the loaders of its data (or ``cfg.data``);
    ``trainable=False`` lets a stage that only runs the model (int8 of an ONNX file) open one without weights."""
    art = art or load_artifact(cfg.artifact)
    if trainable and art.meta.get("foreign"):
        art = torch_form(art)
    if trainable and not any(True for _ in art.model.parameters()):
        raise ConfigError(f"{art.path}: this stage changes a torch model's weights; give the float artifact "
                          f"(.pt, .evz), not an exported file")
    task = build_task(art.task)
    data_cfg, splits = data_for(art, cfg.data, task.name)
    if len(splits.train) == 0 and cfg.epochs:
        raise DataError(f"{splits.source}: the train split is empty; fine-tuning needs training data")
    seed_everything(cfg.seed)
    train, val, test = make_loaders(splits, cfg, cfg.augment, cfg.seed, data_cfg.num_workers)
    teacher = copy.deepcopy(art.model).eval() if cfg.distill is not None else None
    return FinetuneContext(art, task, data_cfg, splits, train, val, test, teacher)


def torch_form(art: Artifact) -> Artifact:
    """A foreign ONNX artifact with its onnx2torch conversion as the model (one line naming the operators that
    stop it); the spec records the file and its graph's SHA-256, so the stage's output reloads from it."""
    model = onnxnet.convert_file(art.path)
    return dataclasses.replace(art, model=model, arch=get_arch(model))


def with_distillation(task: Task, teacher: nn.Module, kd: KDConfig) -> DistillTask:
    """Wrap ``task`` so training also matches ``teacher``'s outputs on the same (augmented) batch.

    The teacher is the model the stage started from, so it takes the student's input as it is.
    """
    teacher.eval()

    def source(batch: dict[str, Any]) -> torch.Tensor:
        with torch.no_grad():
            return teacher(batch["image"]).float()

    return DistillTask(task, source, kd)


def finetune(model: nn.Module, ctx: FinetuneContext, cfg: FinetuneConfig, run: RunDir,
             callbacks: tuple[Callback, ...] | list[Callback] = ()) -> dict[str, Any]:
    """Train ``model`` in place for ``cfg.epochs`` and load the kept weights (``cfg.keep``); return loop facts.

    With callbacks the loop runs even at 0 epochs, so they still see the start and end of the fit (pruning
    masks, tied weights).
    """
    if cfg.epochs == 0 and not callbacks:
        return {"epochs_run": 0}
    task: Task = ctx.task
    callbacks = list(callbacks)
    if cfg.distill is not None:
        if ctx.teacher is None:
            raise ConfigError("distill: this stage has no unchanged model to distil from")
        task = with_distillation(task, ctx.teacher, cfg.distill)
        callbacks.append(PhaseSchedule(task))
    trainer = Trainer(model, task, ctx.train, ctx.val, cfg, run, callbacks=callbacks)
    state = trainer.fit(resume=cfg.resume)
    trainer.load_best()
    model.eval()
    out: dict[str, Any] = {"epochs_run": state.epoch, "best_epoch": state.best_epoch}
    if state.history:
        out["val"] = {k[4:]: v for k, v in state.history[state.best_epoch - 1].items() if k.startswith("val_")}
    if cfg.distill is not None:
        out["distill"] = cfg.distill.model_dump()
    return out


def eval_metrics(model: nn.Module, ctx: FinetuneContext, loader: BatchLoader | None = None) -> dict[str, Any]:
    """Metrics of ``model`` on ``loader`` (default: the test split, or val when there is no test split)."""
    loader = loader or (ctx.test if len(ctx.splits.test) else ctx.val)
    return evaluate_model(model, ctx.task, loader)


def evaluate_test(model: nn.Module, ctx: FinetuneContext, run: RunDir, metrics: dict[str, Any]) -> dict[str, Any]:
    """Test metrics of the final weights (also written to ``eval.json`` for the report)."""
    if len(ctx.splits.test):
        test = evaluate_model(model, ctx.task, ctx.test)
        metrics["test"] = scalars(test, "")
        write_eval(run, test)
        say(f"test: {ctx.task.summary(test)}")
    return metrics


def finish(model: nn.Module, ctx: FinetuneContext, run: RunDir, stage: str, metrics: dict[str, Any],
           extra: dict[str, Any], compress: dict[str, Any]) -> StageResult:
    """Save ``model.pt`` with the compression history in ``meta['compress']`` and the card."""
    history = tidy({**(ctx.art.meta.get("compress") or {}), **compress})
    return finish_model_stage(run, stage, model, ctx.task, ctx.splits, ctx.data_cfg, metrics,
                              parent=str(ctx.art.path), extra={**extra, "compress": history},
                              meta={"compress": history})


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


def tidy(obj: Any, digits: int = 6) -> Any:
    """Round floats to ``digits`` significant digits, recursively (records that travel inside a ``.evz``)."""
    if isinstance(obj, dict):
        return {k: tidy(v, digits) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [tidy(v, digits) for v in obj]
    if isinstance(obj, float):
        return float(f"{obj:.{digits}g}")
    return obj


def weights_of(layers: dict[str, nn.Module]) -> dict[str, Any]:
    return {n: m._parameters["weight"].detach().clone() for n, m in layers.items()}


def say(text: str) -> None:
    console.print(text, highlight=False, soft_wrap=True)
