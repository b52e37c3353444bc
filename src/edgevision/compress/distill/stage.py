"""The ``distill`` stage: a teacher (artifact or OpenCV detector) trains a fresh student through the one Trainer.

Steps: open the data (the teacher's own by default) → build the teacher and fit what depends on the training
split → build the student → teacher source (``online``: the exact augmented batch; ``offline``: the logit
cache) → optional feature hints → ``Trainer(student, DistillTask(base task, ...))`` → best weights → student
and teacher metrics on the held-out test split, sizes, batch-1 latency and the distillation score →
``model.pt`` + card (the saved student is a plain model of the base task; ``eval``/``profile`` take it as is).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ...artifacts import load_artifact
from ...config import dump
from ...configs.distill import DistillStageConfig, KDConfig
from ...data import DataConfig, DataSplits, load_data
from ...data.unreadable import used
from ...errors import ConfigError
from ...models import count_params, get_arch
from ...runs import RunDir, claim
from ...stages import StageResult, run_stage, stage
from ...tasks.base import Task
from ...train.distributed import Dist, barrier, init_distributed
from ...train.objects import module_input
from ...train.stage import (
    build_for_data,
    finish_model_stage,
    init_from,
    initial_weights,
    make_loaders,
    make_task,
    write_eval,
)
from ...train.trainer import Trainer, evaluate_model, scalars
from ...utils.io import write_json
from ...utils.progress import console
from ...utils.seed import seed_everything
from .cache import TeacherCache
from .embedding import EMBEDDING_STUDENT, EmbeddingDistillTask, embedding_dim
from .hints import HintSet
from .score import distillation_score, evaluate_teacher, ms_per_image, student_latency
from .task import CachedTeacher, DistillTask, OnlineTeacher, PhaseSchedule
from .teachers import ArtifactTeacher, Teacher, build_teacher


def kd_config(cfg: DistillStageConfig) -> KDConfig:
    return KDConfig(**{k: getattr(cfg, k) for k in KDConfig.model_fields})


def open_teacher_and_data(cfg: DistillStageConfig) -> tuple[Teacher, DataConfig, str, DataSplits]:
    """The teacher, the data config (the teacher's by default), the base task name and the splits."""
    described = cfg.teacher_onnx.onnx_description() if cfg.teacher_onnx else None
    teacher = build_teacher(cfg.teacher, cfg.teacher_options, cfg.task, described)  # task None: the artifact's own
    art = getattr(teacher, "art", None)
    data_cfg = cfg.data
    if (data_cfg is None or "source" not in data_cfg.model_fields_set) and art is not None and art.meta.get("data"):
        # the teacher's data, with any explicitly set fields (e.g. --input-size without --data) on top
        given = data_cfg.model_dump(include=data_cfg.model_fields_set) if data_cfg is not None else {}
        data_cfg = DataConfig.model_validate({**art.meta["data"], **given})
    if data_cfg is None:
        raise ConfigError(f"distill --teacher {cfg.teacher}: pass --data (e.g. presence:pennfudan+coco128); the "
                          f"teacher does not record a dataset")
    own = art.task.get("name") if isinstance(teacher, ArtifactTeacher) else getattr(teacher, "default_task", None)
    task = cfg.task or own or "classification"
    teaches = getattr(teacher, "kind", None) and getattr(teacher, "default_task", None)
    if teaches and task != teaches:  # a teacher file's output fits one task
        raise ConfigError(task_mismatch(cfg.teacher, teacher.kind, teaches, task))
    splits = load_data(data_cfg, task)
    teacher.prepare(splits.train, splits.class_names)
    return teacher, data_cfg, task, splits


def task_mismatch(name: str, kind: str, teaches: str, task: str) -> str:
    """The line for a teacher file whose ``output`` kind teaches ``teaches`` but the student's task is ``task``."""
    if kind == "embedding":
        return (f"teacher {name}: an embedding teacher (teacher_options.output embedding) teaches face (embedding) "
                f"students, not {task}: drop --task (or give --task face) and {EMBEDDING_STUDENT}")
    return (f"teacher {name}: teacher_options.output {kind} teaches {teaches}, not {task}; pick the output the file "
            f"gives for a {task} student (or --task {teaches})")


GEOMETRIC = ("hflip", "vflip", "rotate", "crop", "translate", "perspective", "mosaic", "mixup")


def base_task(cfg: DistillStageConfig, task_name: str, splits: DataSplits, teacher: Teacher) -> Task:
    """The student's task: the teacher artifact's own task options (anchors, ignore label, loss) when it has the
    same task, so per-anchor outputs line up, with ``task_options`` and ``label_smoothing`` on top."""
    art = getattr(teacher, "art", None)
    opts: dict[str, Any] = {}
    if art is not None and art.task.get("name") == task_name:
        opts = {k: v for k, v in art.task.items() if k not in ("name", "class_names", "input_size")}
    if cfg.label_smoothing:
        opts["label_smoothing"] = cfg.label_smoothing
    return make_task(task_name, splits, **{**opts, **cfg.task_options})


def check_options(cfg: DistillStageConfig, teacher: Teacher, base: Task) -> None:
    moved = [k for k in GEOMETRIC if getattr(cfg.augment, k)]
    if cfg.mode == "offline" and base.spatial_output and moved:
        raise ConfigError(f"mode offline caches the teacher's {base.name} outputs for un-augmented images, but "
                          f"augment.{moved[0]} moves pixels and boxes, so cached targets would no longer line up: "
                          f"use mode online (the default), or drop the geometric augmentations "
                          f"({', '.join(GEOMETRIC)})")
    if cfg.hints and cfg.mode == "offline":
        raise ConfigError("hints need the teacher's features at every step: use mode online with hints")
    if cfg.hints and teacher.module is None:
        raise ConfigError(f"hints need a network teacher; {teacher.name!r} has no layers (use an artifact teacher)")


def teacher_source(cfg: DistillStageConfig, teacher: Teacher, splits: DataSplits) -> tuple[Any, dict[str, Any]]:
    """``online``: run the teacher on each augmented batch; ``offline``: build or reuse the logit cache."""
    if cfg.mode == "online":
        return OnlineTeacher(teacher, splits.mean, splits.std), {"mode": "online"}
    cache = TeacherCache.for_teacher(teacher, splits.train, cfg.cache_dir, {"classes": splits.class_names})
    console.print(f"teacher cache {'reused' if cache.reused else 'built'}: {cache.path}", highlight=False)
    return CachedTeacher(cache), {"mode": "offline", "cache": str(cache.path), "reused": cache.reused}


def make_task_for(cfg: DistillStageConfig, base: Task, source: Any, teacher: Teacher, student: torch.nn.Module,
                  splits: DataSplits, hints: HintSet | None) -> DistillTask:
    """A :class:`DistillTask`, or an :class:`EmbeddingDistillTask` for a teacher that gives embeddings."""
    dim = getattr(teacher, "embedding_dim", None)
    if dim is None:
        return DistillTask(base, source, kd_config(cfg), hints)
    if cfg.objective == "kl+bce" or hints:
        raise ConfigError(f"teacher {teacher.name} gives {dim}-d embeddings: use the embedding losses "
                          f"(--embedding-loss, --relational-weight), not objective kl+bce or hints")
    student_dim = embedding_dim(student, (splits.channels, *splits.input_size),
                                f"teacher {teacher.name} gives {dim}-d embeddings, so it")
    return EmbeddingDistillTask(base, source, kd_config(cfg), student_dim, dim)


def make_hints(cfg: DistillStageConfig, student: torch.nn.Module, teacher: Teacher, splits: DataSplits
               ) -> HintSet | None:
    if not cfg.hints:
        return None
    return HintSet(student, teacher.module, cfg.hints, (splits.channels, *splits.input_size), teacher.input_shape)


def held_out_report(cfg: DistillStageConfig, student: torch.nn.Module, teacher: Teacher, base, splits: DataSplits,
                    test_l) -> dict[str, Any]:
    """Teacher and student on the test split: metrics, size, batch-1 latency, distillation score."""
    student_m = evaluate_model(student, base, test_l)
    teacher_m = evaluate_teacher(teacher, base, test_l, splits.mean, splits.std)
    sample = next(iter(test_l))["image"][:1]
    x01 = (sample * torch.tensor(splits.std).view(1, -1, 1, 1) + torch.tensor(splits.mean).view(1, -1, 1, 1))
    budget, threads = cfg.latency_budget_s, cfg.latency_threads or cfg.threads or 1
    rows = {"teacher": {**teacher.info(), **ms_per_image(teacher.logits, x01.clamp(0, 1), budget, threads),
                        "test": scalars(teacher_m, "")},
            "student": {"name": cfg.student, "size_bytes": count_params(student) * 4, "params": count_params(student),
                        **student_latency(student, sample, budget, threads), "test": scalars(student_m, "")}}
    key = "top1" if "top1" in student_m else base.primary
    acc_s, acc_t = rows["student"]["test"].get(key, float("nan")), rows["teacher"]["test"].get(key, float("nan"))
    rows["distillation_score"] = distillation_score(rows["student"]["size_bytes"], rows["teacher"]["size_bytes"],
                                                    acc_s, acc_t)
    rows["score_metric"] = key
    return {"report": rows, "student_metrics": student_m}


@stage("distill", DistillStageConfig, input_field="teacher", summary="train a small student from a teacher (KD)")
def run_distill(cfg: DistillStageConfig, out: Path) -> StageResult:
    dist = init_distributed()
    run = RunDir(out)
    if claim(run, resume=cfg.resume, overwrite=cfg.overwrite, main=dist.is_main) == "finished":
        return StageResult(run.path, run.artifact(), run.card())
    teacher, data_cfg, task_name, splits = open_teacher_and_data(cfg)
    seed_everything(cfg.seed)
    base = base_task(cfg, task_name, splits, teacher)
    check_options(cfg, teacher, base)
    student = build_for_data(cfg.student, cfg.student_kwargs, splits, base)
    initial_weights(student, cfg.weights, cfg.weights_strict)
    if cfg.init:
        init_from(student, cfg.init)
    source, source_info = teacher_source(cfg, teacher, splits)
    hints = make_hints(cfg, student, teacher, splits)
    task = make_task_for(cfg, base, source, teacher, student, splits, hints)
    train_l, val_l, test_l = make_loaders(splits, cfg, cfg.augment, cfg.seed, data_cfg.num_workers, dist)
    if dist.is_main:
        run.mkdir().write_config(dump(cfg))
        _announce(cfg, teacher, splits, student)
    trainer = Trainer(student, task, train_l, val_l, cfg, run, callbacks=[PhaseSchedule(task)], dist=dist)
    state = trainer.fit(resume=cfg.resume)
    trainer.load_best()
    if hints is not None:
        hints.remove()
    result = StageResult(run.path)
    if dist.is_main:
        result = _finish(cfg, run, student, teacher, base, splits, data_cfg, test_l, state, source_info, hints, dist)
    barrier(dist)
    return result


def _announce(cfg: DistillStageConfig, teacher: Teacher, splits: DataSplits, student: torch.nn.Module) -> None:
    loss = (f"{cfg.embedding_loss} + {cfg.relational_weight:g}·RKD" if getattr(teacher, "embedding_dim", None)
            else f"T={cfg.temperature}, {cfg.objective}")
    console.print(f"distill {teacher.name} → {cfg.student} ({count_params(student):,} params) on {splits.source}: "
                  f"{len(splits.train)} train / {len(splits.val)} val / {len(splits.test)} test, {loss}, "
                  f"α={cfg.alpha}, {cfg.mode}", highlight=False)


def _finish(cfg: DistillStageConfig, run: RunDir, student, teacher: Teacher, base, splits: DataSplits,
            data_cfg: DataConfig, test_l, state, source_info: dict[str, Any], hints: HintSet | None,
            dist: Dist) -> StageResult:
    scored = len(splits.test) and getattr(teacher, "embedding_dim", None) is None  # embeddings are not class scores
    held = held_out_report(cfg, student, teacher, base, splits, test_l) if scored else {}
    report = held.get("report", {})
    report.update(kd=kd_config(cfg).model_dump(), source=source_info,
                  hints=hints.describe() if hints is not None else [])
    write_json(run.path / "distill.json", report)
    metrics = {"test": scalars(held.get("student_metrics", {}), ""), "best_epoch": state.best_epoch,
               "epochs_run": state.epoch}
    if state.history:
        metrics["val"] = {k[4:]: v for k, v in state.history[state.best_epoch - 1].items() if k.startswith("val_")}
    extra = {"world_size": dist.world, "train_samples": used(splits.train),
             "teacher": report.get("teacher", teacher.info()),
             "distillation": {"score": report.get("distillation_score"), "metric": report.get("score_metric"),
                              "kd": report["kd"], **source_info}}
    result = finish_model_stage(run, "distill", student, base, splits, data_cfg, metrics, parent=teacher.name,
                                extra=extra)
    if held:
        write_eval(run, held["student_metrics"])
    return result




def distill(teacher: str | Path | nn.Module, out: str | Path | None = None, **options: Any) -> StageResult:
    """Distill a teacher into a student; ``edgevision distill`` in Python.

    The teacher and the student may be model objects: a student object is built again from its class (its
    reference and constructor arguments, :func:`edgevision.models.adopt.adopt`) and starts from its weights.

    Example:
        >>> edgevision.distill("runs/qs/train", student="student_cnn", student_kwargs={"width": 8},
        ...                    temperature=4, alpha=0.9, epochs=5, out="runs/d")
    """
    teacher, out, options = module_input(teacher, "distill", out, options)
    student = options.get("student")
    if isinstance(student, nn.Module):
        size = options.get("input_size") or _teacher_size(teacher)
        init, out, options = module_input(student, "distill", out, {**options, "input_size": size}, tag="student")
        spec = get_arch(student)
        options = {**options, "student": spec.name, "student_kwargs": spec.kwargs, "init": options.get("init") or init}
    return run_stage("distill", {"teacher": str(teacher), **options}, out)


def _teacher_size(teacher: Any) -> Any:
    """The teacher artifact's input size (H, W), the student's too; None for a classical detector."""
    p = Path(str(teacher))
    return load_artifact(p).preprocess["input_size"] if p.exists() else None
