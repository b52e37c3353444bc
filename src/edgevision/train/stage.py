"""The ``train`` stage, and the helpers every training-like stage (distill, fine-tune) reuses."""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any

import torch

from ..artifacts import load_artifact, save_model
from ..config import dump
from ..configs.train import TrainConfig, TrainStageConfig
from ..data import AugmentConfig, BatchLoader, BatchTransform, DataConfig, DataSplits, load_data
from ..data.unreadable import summarize, used
from ..errors import ConfigError, EdgevisionError
from ..models import build_model, count_params, get_arch
from ..models.base import resolve
from ..models.complexity import count_macs
from ..models.contract import check_fits, name_features
from ..models.refs import ModelSource, accepted
from ..models.weights import load_weights
from ..ops.letterbox import resize_record
from ..runs import RunDir, claim, make_card
from ..stages import StageResult, run_stage, stage
from ..tasks import TASKS, Task
from ..utils.io import write_json
from ..utils.progress import console
from ..utils.seed import seed_everything
from ..utils.timing import measure
from .activations import write_activations
from .distributed import Dist, barrier, init_distributed
from .trainer import Trainer, evaluate_model, scalars
from .transfer import transfer_options


def model_inputs(source: ModelSource, splits: DataSplits) -> dict[str, Any]:
    """kwargs that adapt a model to the data: classes, channels, and input side when it needs one.

    ``num_classes`` and ``in_channels`` are a convention: a foreign constructor gets only the ones it takes (its
    own argument names come through ``model_kwargs``)."""
    kw: dict[str, Any] = {"num_classes": splits.num_classes, "in_channels": splits.channels}
    names, var_kw = accepted(source.factory)
    if "input_size" in names:
        kw["input_size"] = splits.input_size[0]
    if "input_mean" in names and splits.mean:  # models that undo normalization (classical front-ends)
        kw["input_mean"], kw["input_std"] = list(splits.mean), list(splits.std)
    return kw if source.registered or var_kw else {k: v for k, v in kw.items() if k in names}


def build_for_data(name: str, kwargs: dict[str, Any], splits: DataSplits, task: Task | None = None) -> torch.nn.Module:
    """Build ``name`` (any model reference) for the data's classes/channels/size, adapted to ``task`` (e.g. anchors
    per cell); a foreign model is checked to take the data's channels and give one output per class."""
    source = resolve(name)
    full = {**model_inputs(source, splits), **kwargs}
    if full.get("num_classes", splits.num_classes) != splits.num_classes and "num_classes" in kwargs:
        raise ConfigError(f"model_kwargs.num_classes={kwargs['num_classes']} but the data has "
                          f"{splits.num_classes} classes")
    if task is not None:
        full = task.adapt_model_kwargs(full, source.meta)
    try:
        model = build_model(name, **full)
    except TypeError as e:
        raise ConfigError(f"model_kwargs for {source.label!r}: {e}") from None
    if not source.registered:
        check_fits(model, source, splits, task)
    return model


def initial_weights(model: torch.nn.Module, path: str | None, strict: bool) -> dict[str, Any] | None:
    """Load ``--weights`` into ``model`` (:func:`edgevision.models.weights.load_weights`); say what did not match."""
    if not path:
        return None
    report = load_weights(model, path, strict)
    if not report.exact:
        console.print(f"weights {path}: {report.summary()}; those keep their initialization", highlight=False)
    return report.to_dict()


def init_from(model: torch.nn.Module, artifact: str, exclude: list[str] | None = None) -> list[str]:
    """Copy every same-named, same-shaped tensor from ``artifact`` (transfer learning) except names matching
    ``exclude`` globs; return the names not copied."""
    src = load_artifact(artifact).model.state_dict()
    own = model.state_dict()
    skip = [k for k in own if any(fnmatch.fnmatchcase(k, g) for g in exclude or [])]
    take = {k: v for k, v in src.items() if k in own and own[k].shape == v.shape and k not in skip}
    if not take:
        raise EdgevisionError(f"init artifact {artifact}: no tensor matches this model's names and shapes")
    model.load_state_dict(take, strict=False)
    return sorted(set(own) - set(take))


def preprocess_of(splits: DataSplits) -> dict[str, Any]:
    return {"input_size": list(splits.input_size), "channels": splits.channels, "mean": list(splits.mean),
            "std": list(splits.std), **resize_record(splits.resize), "color": "RGB" if splits.channels == 3 else "GRAY",
            "scale": 1 / 255}


def make_loaders(splits: DataSplits, cfg: TrainConfig, augment: AugmentConfig | None, seed: int,
                 num_workers: int = 0, dist: Dist | None = None) -> tuple[BatchLoader, BatchLoader, BatchLoader]:
    dist = dist or Dist()
    plain = BatchTransform(splits.mean, splits.std)
    ebs = cfg.eval_batch_size or max(cfg.batch_size, 128)
    augmenting = BatchTransform(splits.mean, splits.std, augment, cfg.epochs)
    train = BatchLoader(splits.train, cfg.batch_size, shuffle=True, transform=augmenting, train=True, seed=seed,
                        num_workers=num_workers, drop_last=True, rank=dist.rank, world=dist.world, split="train")
    val = BatchLoader(splits.val, ebs, shuffle=False, transform=plain, num_workers=num_workers, split="val")
    test = BatchLoader(splits.test, ebs, shuffle=False, transform=plain, num_workers=num_workers, split="test")
    return train, val, test


def resolve_task(task: str | None, model: str) -> str:
    """The task to train ``model`` for: the one asked for, else the model's registered task; a per-pixel model
    asked to do classification (or the reverse) is a ConfigError."""
    native = resolve(model).meta.get("task", "classification")
    task = task or native
    if resolve(model).registered and (task == "segmentation") != (native == "segmentation"):
        raise ConfigError(f"task {task!r} does not fit model {model!r}, whose outputs are for {native!r}")
    return task


def make_task(name: str, splits: DataSplits, **kwargs: Any) -> Task:
    """Build task ``name`` for these splits; ``kwargs`` are its options. Tasks derive state such as anchors from
    the data, and a source may suggest options (``splits.info["task_kwargs"]``, e.g. the ignore label of its masks),
    which explicit ``kwargs`` override."""
    if name not in TASKS:
        raise ConfigError(f"task {name!r}: allowed: {', '.join(TASKS.names())}")
    kwargs = {**splits.info.get("task_kwargs", {}), **kwargs}
    try:
        return TASKS.get(name).for_data(splits, **kwargs)
    except TypeError as e:
        raise ConfigError(f"task_options for {name!r}: {e}") from None


def quick_latency(model: torch.nn.Module, input_shape: tuple[int, ...]) -> dict[str, float]:
    """Torch eager batch-1 latency (p50/p90 ms) with a short budget, for the card."""
    model.eval()
    x = torch.randn(1, *input_shape)
    with torch.inference_mode():
        r = measure(lambda: model(x), warmup=3, min_runs=10, budget_s=0.5)
    return {"engine": "torch", "batch": 1, "threads": torch.get_num_threads(), "p50_ms": round(r["p50_ms"], 4),
            "p90_ms": round(r["p90_ms"], 4)}


def no_face(splits: DataSplits) -> dict[str, Any]:
    """Card field ``no_face`` (count, first files) of a face source that cropped with a detector, with one warning
    line: those images kept their full frame."""
    n = splits.info.get("no_face")
    if not n:
        return {}
    files = list(splits.info.get("no_face_files") or [])
    total = sum(len(d) for d in {id(d): d for d in (splits.train, splits.val, splits.test)}.values())
    console.print(f"[yellow]warning:[/] no face found in {n} of {total} images (they kept the full frame): "
                  f"{', '.join(files[:10])}{', …' if len(files) > 10 else ''}", highlight=False, soft_wrap=True)
    return {"no_face": {"count": int(n), "files": files[:50]}}


def finish_model_stage(run: RunDir, stage_name: str, model: torch.nn.Module, task: Task, splits: DataSplits,
                       data_cfg: DataConfig, metrics: dict[str, Any], parent: str | None = None,
                       extra: dict[str, Any] | None = None, meta: dict[str, Any] | None = None) -> StageResult:
    """Save ``model.pt`` and write the card: the common ending of every stage that produces a model.

    ``meta`` adds entries to the artifact's ``meta`` (e.g. the compression history: sparsity, bits).
    """
    pre = preprocess_of(splits)
    shape = (splits.channels, *splits.input_size)
    path = save_model(run.path / "model.pt", model, task=task.to_dict(), preprocess=pre,
                      meta={**(meta or {}), "data": data_cfg.model_dump(mode="json"), "stage": stage_name})
    arch = get_arch(model)
    skips = {**summarize({"train": splits.train, "val": splits.val, "test": splits.test}, run.path),
             **no_face(splits)}
    card = make_card(stage_name, task=task.to_dict(), model=arch.to_dict(), artifact=path, metrics=metrics,
                     parent=parent, params=count_params(model), macs=count_macs(model, shape),
                     input_shape=list(shape), preprocess=pre, data=data_cfg.model_dump(mode="json"),
                     latency=quick_latency(model, shape), **skips, **(extra or {}))
    write_activations(run.path / "activations.json", model, splits)
    run.write_card(card)
    return StageResult(run.path, path, card)


def apply_transfer(cfg: TrainStageConfig, model: torch.nn.Module) -> TrainStageConfig:
    """Initialize ``model`` from ``cfg.init`` and return the config the trainer should use: with ``transfer``,
    the mode's freeze list and LR multipliers are added (explicit ``lr_mult`` entries win)."""
    if cfg.transfer and not cfg.init:
        raise ConfigError(f"train.transfer={cfg.transfer!r} needs init: the pre-trained artifact to adapt")
    if not cfg.init:
        return cfg

    t = transfer_options(model, cfg.transfer, cfg.transfer_head) if cfg.transfer else {}
    init_from(model, cfg.init, [*cfg.init_exclude, *t.get("init_exclude", [])])
    if not t:
        return cfg
    return cfg.model_copy(update={"freeze": [*cfg.freeze, *t["freeze"]], "lr_mult": {**t["lr_mult"], **cfg.lr_mult}})


@stage("train", TrainStageConfig, summary="train a model on a dataset")
def run_train(cfg: TrainStageConfig, out: Path) -> StageResult:
    dist = init_distributed()
    run = RunDir(out)
    state = claim(run, resume=cfg.resume, overwrite=cfg.overwrite, main=dist.is_main)
    if state == "finished" and run.card().get("metrics", {}).get("epochs_run", 0) >= cfg.epochs:
        return StageResult(run.path, run.artifact(), run.card())  # a finished run continues only with more epochs
    task_name = resolve_task(cfg.task, cfg.model)
    splits = load_data(cfg.data, task_name)
    seed_everything(cfg.seed)
    task = make_task(task_name, splits, **cfg.task_options,
                     **({"label_smoothing": cfg.label_smoothing} if cfg.label_smoothing else {}))
    model = build_for_data(cfg.model, cfg.model_kwargs, splits, task)
    weights = initial_weights(model, cfg.weights, cfg.weights_strict)
    name_features(model, cfg.feature_layer)
    # constants a model derives from its training images (Björgvinsdóttir & Seibold's (2016) mean image)
    if hasattr(model, "fit_data"):
        model.fit_data(splits.train.images, splits.mean, splits.std)
    fit_cfg = apply_transfer(cfg, model)
    train_l, val_l, test_l = make_loaders(splits, cfg, cfg.augment, cfg.seed, cfg.data.num_workers, dist)
    resuming = cfg.resume and (run.path / "checkpoints" / "last.pt").exists()
    if dist.is_main:
        run.mkdir()
        if not resuming:  # a resumed run keeps its config until it has loaded its checkpoint successfully
            run.write_config(dump(cfg))
        console.print(f"train {cfg.model} on {splits.source}: {len(splits.train)} train / {len(splits.val)} val / "
                      f"{len(splits.test)} test, {splits.num_classes} classes, input {splits.channels}x"
                      f"{splits.input_size[0]}x{splits.input_size[1]}", highlight=False)
    trainer = Trainer(model, task, train_l, val_l, fit_cfg, run, dist=dist)
    state = trainer.fit(resume=cfg.resume)
    trainer.load_best()
    result = StageResult(run.path)
    if dist.is_main:
        run.write_config(dump(cfg))
        test_m = evaluate_model(model, task, test_l) if len(splits.test) else {}
        metrics = {"test": scalars(test_m, ""), "best_epoch": state.best_epoch, "epochs_run": state.epoch}
        if state.history:
            metrics["val"] = {k[4:]: v for k, v in state.history[state.best_epoch - 1].items() if k.startswith("val_")}
        result = finish_model_stage(run, "train", model, task, splits, cfg.data, metrics, parent=cfg.init,
                                    extra={"world_size": dist.world, "train_samples": used(splits.train),
                                           **({"weights": weights} if weights else {})})
        write_eval(run, test_m)
        if test_m and (table := task.format_metrics(test_m)):
            console.print(table, highlight=False)
    barrier(dist)
    return result


def write_eval(run: RunDir, metrics: dict[str, Any], name: str = "eval.json") -> Path:

    return write_json(run.path / name, metrics)


def train(out: str | Path | None = None, **options: Any) -> StageResult:
    """Train a model. Same options as ``edgevision train`` / a recipe's ``train`` stage.

    Example:
        >>> edgevision.train(model="student_cnn", data={"source": "synthetic:shapes"}, epochs=5, out="runs/t")
    """

    return run_stage("train", options, out)
