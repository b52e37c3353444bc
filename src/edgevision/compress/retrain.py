"""What the fine-tuning compression stages (prune, cluster) share: open the input artifact with its task and
data, fine-tune through the normal :class:`~edgevision.train.trainer.Trainer` with callbacks, evaluate, and
finish with :func:`~edgevision.train.stage.finish_model_stage` (``model.pt`` + card)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field
from torch import nn

from ..artifacts import Artifact, load_artifact
from ..config import dump
from ..data import AugmentConfig, BatchLoader, DataConfig, DataSplits
from ..runs import OVERWRITE_HELP, RunDir, claim
from ..stages import StageResult
from ..tasks import Task, build_task
from ..train.callbacks import Callback
from ..train.config import TrainConfig
from ..train.evaluate import data_for
from ..train.stage import finish_model_stage, make_loaders, write_eval
from ..train.trainer import Trainer, evaluate_model, scalars
from ..utils.progress import console
from ..utils.seed import seed_everything


class FinetuneConfig(TrainConfig):
    """Options shared by stages that change an artifact's weights and then fine-tune it."""

    artifact: str = Field(..., description="input model (.pt/.evz) or run folder")
    data: DataConfig | None = Field(None, description="default: the data the artifact was trained on")
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    epochs: int = Field(4, ge=0, le=100_000, description="fine-tuning epochs (0 = none)")
    lr: float = Field(0.01, gt=0, le=10)
    keep: Literal["best", "last"] = "last"
    resume: bool = False
    overwrite: bool = Field(False, description=OVERWRITE_HELP)


@dataclass
class Opened:
    """The input of a fine-tuning stage."""

    art: Artifact
    model: nn.Module
    task: Task
    data_cfg: DataConfig
    splits: DataSplits
    loaders: tuple[BatchLoader, BatchLoader, BatchLoader]


def already_done(run: RunDir, cfg: FinetuneConfig) -> StageResult | None:
    """A finished run is reused with ``resume``; a folder holding a run is refused unless ``resume`` or
    ``overwrite`` (see :func:`edgevision.runs.claim`)."""
    if claim(run, resume=cfg.resume, overwrite=cfg.overwrite) == "finished":
        return StageResult(run.path, run.artifact(), run.card())
    return None


def open_input(cfg: FinetuneConfig, run: RunDir) -> Opened:
    art = load_artifact(cfg.artifact)
    task = build_task(art.task)
    data_cfg, splits = data_for(art, cfg.data, task.name)
    seed_everything(cfg.seed)
    loaders = make_loaders(splits, cfg, cfg.augment, cfg.seed, data_cfg.num_workers)
    run.mkdir().write_config(dump(cfg))
    return Opened(art, art.model, task, data_cfg, splits, loaders)


def finetune(o: Opened, cfg: FinetuneConfig, run: RunDir, callbacks: list[Callback]) -> dict[str, Any]:
    """Fit with ``callbacks`` (epochs may be 0: callbacks still see fit start and end); return card metrics."""
    trainer = Trainer(o.model, o.task, o.loaders[0], o.loaders[1], cfg, run, callbacks=callbacks)
    state = trainer.fit(resume=cfg.resume)
    trainer.load_best()
    metrics: dict[str, Any] = {"epochs_run": state.epoch, "best_epoch": state.best_epoch}
    if state.history:
        metrics["val"] = {k[4:]: v for k, v in state.history[state.best_epoch - 1].items() if k.startswith("val_")}
    return metrics


def evaluate_test(o: Opened, run: RunDir, metrics: dict[str, Any]) -> dict[str, Any]:
    """Test metrics of the final weights (also written to ``eval.json`` for the report)."""
    if len(o.splits.test):
        test = evaluate_model(o.model, o.task, o.loaders[2])
        metrics["test"] = scalars(test, "")
        write_eval(run, test)
        console.print(f"test: {o.task.summary(test)}", highlight=False, soft_wrap=True)
    return metrics


def finish(o: Opened, run: RunDir, stage: str, metrics: dict[str, Any], extra: dict[str, Any],
           compress: dict[str, Any]) -> StageResult:
    """Save ``model.pt`` with the compression history in ``meta['compress']`` and the card."""
    history = tidy({**(o.art.meta.get("compress") or {}), **compress})
    return finish_model_stage(run, stage, o.model, o.task, o.splits, o.data_cfg, metrics, parent=str(o.art.path),
                              extra={**extra, "compress": history}, meta={"compress": history})


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
