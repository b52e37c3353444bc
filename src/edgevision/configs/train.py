"""The training loop's options and the ``train``, ``eval`` and ``anchors`` stages' configs."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from .data import AugmentConfig, DataConfig
from .verb import Verb


class TrainConfig(BaseModel):
    """Optimizer, schedule and loop options shared by every training stage (train, distill, fine-tune)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    epochs: int = Field(10, ge=1, le=100_000)
    batch_size: int = Field(64, ge=1, le=65_536)
    eval_batch_size: int | None = Field(None, ge=1)
    optimizer: Literal["sgd", "adam", "adamw"] = "sgd"
    lr: float = Field(0.05, gt=0, le=10)
    momentum: float = Field(0.9, ge=0, lt=1)
    nesterov: bool = False
    weight_decay: float = Field(5e-4, ge=0, le=1)
    schedule: Literal["none", "step", "cosine", "plateau"] = "cosine"
    step_size: float = Field(30, gt=0, description="epochs between decays (step schedule)")
    gamma: float = Field(0.1, gt=0, le=1, description="decay factor (step and plateau schedules)")
    plateau_patience: int = Field(3, ge=0)
    warmup_epochs: float = Field(0, ge=0)
    lr_mult: dict[str, float] = Field(default_factory=dict, description="glob on parameter names → LR multiplier")
    freeze: list[str] = Field(default_factory=list, description="globs of parameter names to freeze")
    early_stop: int = Field(0, ge=0, description="stop after this many epochs without improvement (0 = off)")
    keep: Literal["best", "last"] = "best"
    bf16: bool = False
    grad_clip: float = Field(0, ge=0)
    max_norm: float = Field(0, ge=0, description="max-norm constraint: ‖w_j‖₂ ≤ c on each unit's incoming weights "
                                                 "after every step (Srivastava et al. 2014; 0 = off)")
    label_smoothing: float = Field(0, ge=0, lt=1)
    max_steps_per_epoch: int | None = Field(None, ge=1)
    seed: int = 0


class TrainStageConfig(TrainConfig):
    """``edgevision train``: a model, a dataset, a task and the loop options."""

    cli: ClassVar[Verb] = Verb(
        "train", "edgevision:train",
        "train a model for a task: classification, detection (SqueezeDet), localization (one box), segmentation",
        examples=("edgevision train --model student_cnn --data synthetic:shapes --input-size 32 --epochs 15 "
                  "--out runs/t",),)

    model: str = "student_cnn"
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    task: str | None = Field(None, description="default: the model's registered task (classification if none)")
    task_options: dict[str, Any] = Field(default_factory=dict, description="task-specific options, e.g. detection "
                                         "anchors and loss weights, segmentation {loss: iou} (validated by the task)")
    data: DataConfig = Field(default_factory=DataConfig)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    init: str | None = Field(None, description="artifact whose matching weights initialize the model")
    init_exclude: list[str] = Field(default_factory=list, description="globs of tensors not copied from init")
    transfer: Literal["frozen", "finetune", "scratch"] | None = Field(
        None, description="doc 003's transfer mode from init: frozen trunk / finetune (LR 0.1 copied, 1.0 new) / "
        "fc layers from scratch on a frozen conv trunk (train/transfer.py)")
    transfer_head: list[str] = Field(default_factory=lambda: ["head.*"], description="parameter globs of the head")
    resume: bool = False


class EvalConfig(BaseModel):
    """``edgevision eval``: which artifact, on which data and split."""

    cli: ClassVar[Verb] = Verb("eval", "edgevision:evaluate", "evaluate an artifact on a split of its dataset",
                               examples=("edgevision eval runs/t --split test",), args=("artifact",))

    model_config = ConfigDict(extra="forbid", frozen=True)
    artifact: str = Field(..., description="model file (.pt/.evz/.onnx) or run folder")
    data: DataConfig | None = Field(None, description="default: the data the artifact was trained on")
    split: Literal["train", "val", "test"] = "test"
    batch_size: int = Field(128, ge=1)
    gallery: int = Field(8, ge=0, le=64, description="first and worst samples drawn into gallery/ (0: none)")


class AnchorsConfig(BaseModel):
    """``edgevision anchors DATA --k 9 --input 416x416``."""

    cli: ClassVar[Verb] = Verb(
        "anchors", "edgevision:anchors",
        "k-means anchor shapes (distance 1 − IoU) from a detection dataset's boxes; prints and saves them",
        examples=("edgevision anchors synthetic:shapes --k 9 --input-size 416x416 --out runs/anchors",),
        args=("data",), aliases=(("--input", "input_size"),),
        json="edgevision.train.anchors:read_anchors")

    model_config = ConfigDict(extra="forbid", frozen=True)
    data: DataConfig
    k: int = Field(9, ge=1, le=64)
    input_size: str | None = Field(None, validation_alias=AliasChoices("input_size", "input"),
                                   description="H×W the boxes are measured at (default: the data's input size)")
    split: Literal["train", "val", "test"] = "train"
    seed: int = 0
