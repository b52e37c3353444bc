"""The ``eval`` stage: metrics of any artifact on a split of its dataset (or another one)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from ..artifacts import Artifact, load_artifact
from ..config import dump
from ..configs.train import EvalConfig
from ..data import BatchLoader, BatchTransform, DataConfig, DataSplits, load_data
from ..data.unreadable import SKIPPED_FILE, summarize, used
from ..errors import DataError
from ..runs import RunDir, make_card
from ..stages import StageResult, run_stage, stage
from ..tasks import build_task
from ..utils.io import write_json
from ..utils.progress import console
from .activations import write_activations
from .gallery import GalleryCollector
from .objects import module_input
from .trainer import evaluate_model, scalars


def data_for(art: Artifact, data: DataConfig | None, task: str) -> tuple[DataConfig, DataSplits]:
    """Open the data an artifact expects: its recorded source unless overridden, at its input size and stats."""
    base = data or (DataConfig.model_validate(art.meta["data"]) if art.meta.get("data") else None)
    if base is None:
        raise DataError(f"{art.path}: the artifact does not record its dataset; pass --data")
    pre = art.preprocess
    cfg = base.model_copy(update={"input_size": tuple(pre["input_size"]), "channels": pre["channels"],
                                  "mean": tuple(pre["mean"]), "std": tuple(pre["std"]),
                                  "resize": pre.get("resize", "stretch")})
    return cfg, load_data(cfg, task)


@stage("eval", EvalConfig, input_field="artifact", summary="metrics of an artifact on a data split")
def run_eval(cfg: EvalConfig, out: Path) -> StageResult:
    art = load_artifact(cfg.artifact, cfg.onnx_description())
    task = build_task(art.task)
    data_cfg, splits = data_for(art, cfg.data, task.name)
    ds = splits.split(cfg.split)
    if len(ds) == 0:
        raise DataError(f"{splits.source}: the {cfg.split} split is empty")
    loader = BatchLoader(ds, cfg.batch_size, shuffle=False, transform=BatchTransform(splits.mean, splits.std),
                         num_workers=data_cfg.num_workers, split=cfg.split)
    gallery = GalleryCollector(task, splits.mean, splits.std, cfg.gallery) if cfg.gallery else None
    metrics = evaluate_model(art.model, task, loader, on_batch=gallery.update if gallery else None)
    run = RunDir(out).mkdir()
    if gallery is not None:
        gallery.write(run.path)
    run.write_config(dump(cfg))
    write_json(run.path / "eval.json", metrics)
    write_activations(run.path / "activations.json", art.model, splits)
    skips = summarize({cfg.split: ds}, run.path)
    card = make_card("eval", task=art.task, model=art.arch.to_dict(), metrics={cfg.split: scalars(metrics, "")},
                     parent=str(art.path), data=data_cfg.model_dump(mode="json"), split=cfg.split, **skips)
    run.write_card(card)
    if table := task.format_metrics(metrics):
        console.print(table, highlight=False)
    bad = skips["unreadable"][cfg.split]
    note = f"; {bad} unreadable file(s) skipped, listed in {run.path / SKIPPED_FILE}" if bad else ""
    console.print(f"{cfg.split}: {task.summary(metrics)}  (n={metrics.get('n', used(ds))}{note})", highlight=False,
                  soft_wrap=True)
    return StageResult(run.path, None, card)


def evaluate(artifact: str | Path | nn.Module, out: str | Path | None = None, **options: Any) -> StageResult:
    """Evaluate an artifact; ``edgevision eval`` in Python.

    Example:
        >>> edgevision.evaluate("runs/quickstart/train", split="test").metrics["test"]["top1"]
    """
    artifact, out, options = module_input(artifact, "eval", out, options)
    return run_stage("eval", {"artifact": str(artifact), **options}, out)
