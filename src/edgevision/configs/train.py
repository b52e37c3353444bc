"""The training loop's options and the ``train``, ``eval`` and ``anchors`` stages' configs."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from .data import AugmentConfig, DataConfig
from .foreign import ForeignOnnxOptions
from .verb import Verb

THREADS_HELP = "torch intra-op (and OpenCV) threads while this stage computes; default: torch's, one per core"
OVERWRITE_HELP = ("start over in an --out that already holds a run (finished or interrupted): the old folder is moved "
                  "aside to <out>.old-<time> (nothing is deleted); excludes resume")


class TrainConfig(BaseModel):
    """Optimizer, schedule and loop options shared by every training stage (train, distill, fine-tune)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    epochs: int = Field(10, ge=1, le=100_000, description="training epochs (passes over the train split)")
    batch_size: int = Field(64, ge=1, le=65_536, description="training samples per optimizer step (per process "
                            "under DDP); the last incomplete batch of an epoch is dropped")
    eval_batch_size: int | None = Field(None, ge=1, description="batch size of the val/test passes (default: "
                                        "max(batch_size, 128))")
    optimizer: Literal["sgd", "adam", "adamw"] = Field(
        "sgd", description="sgd (with momentum, nesterov), adam (L2 weight decay) or adamw (decoupled weight "
        "decay); torch's default betas")
    lr: float = Field(0.05, gt=0, le=10, description="base learning rate, times each parameter's lr_mult and the "
                      "schedule's factor")
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum (adam/adamw ignore it)")
    nesterov: bool = Field(False, description="Nesterov momentum (sgd with momentum > 0 only)")
    weight_decay: float = Field(5e-4, ge=0, le=1, description="weight decay on weights with ≥ 2 dims (biases "
                                "and norm parameters get none)")
    schedule: Literal["none", "step", "cosine", "plateau"] = Field(
        "cosine", description="LR = lr × factor at fractional epoch t after warm-up: step γ^⌊t/step_size⌋; cosine "
        "½(1 + cos(π·t/T)), T = epochs − warmup_epochs; plateau γ^k after k plateaus; none 1")
    step_size: float = Field(30, gt=0, description="epochs between decays (step schedule)")
    lr_decay: float = Field(0.1, gt=0, le=1, validation_alias=AliasChoices("lr_decay", "gamma"),
                            description="LR decay factor γ (step and plateau schedules)")
    plateau_patience: int = Field(3, ge=0, description="plateau schedule: the LR is multiplied by lr_decay after "
                                  "more than this many epochs in a row without improvement (ReduceLROnPlateau)")
    warmup_epochs: float = Field(0, ge=0, description="epochs of linear LR warm-up from 0 before the schedule "
                                 "(0 = none)")
    lr_mult: dict[str, float] = Field(default_factory=dict, description="glob on parameter names → LR multiplier "
                                      "(0 freezes; Björgvinsdóttir & Seibold 2016 fine-tune with 0 / 0.1 / 1.0)")
    freeze: list[str] = Field(default_factory=list, description="globs of parameter names to freeze")
    early_stop: int = Field(0, ge=0, description="stop after this many epochs without improvement (0 = off; "
                            "only counts with keep best)")
    keep: Literal["best", "last"] = Field(
        "best", description="weights the stage ends with: best = the epoch with the best val primary metric "
        "(train loss without val), last = the final epoch")
    ema: float = Field(0, ge=0, lt=1, description="exponential moving average of the weights with decay d (e.g. "
                       "0.999; 0 = off): validation, the best epoch and the stage's model use the average; "
                       "d_t = d·(1 − exp(−t/ema_tau)) after t steps")
    ema_tau: float = Field(200, gt=0, description="warm-up of the weight average τ, in optimizer steps: d_t "
                           "reaches 63 % of ema after τ steps")
    bf16: bool = Field(False, description="run the training steps and validation passes under CPU bf16 autocast")
    grad_clip: float = Field(0, ge=0, description="clip the gradients' global L2 norm to this before each step "
                             "(0 = off)")
    max_norm: float = Field(0, ge=0, description="max-norm constraint: ‖w_j‖₂ ≤ c on each unit's incoming weights "
                                                 "after every step (Srivastava et al. 2014; 0 = off)")
    label_smoothing: float = Field(0, ge=0, lt=1, description="label smoothing ε of the cross-entropy loss "
                                   "(classification, face and segmentation tasks; 0 = off)")
    max_steps_per_epoch: int | None = Field(None, ge=1, description="cap on optimizer steps per epoch (default: "
                                            "the whole train split; quick runs)")
    seed: int = Field(0, description="seed of the weight initialization, batch order, augmentation and dropout "
                      "(derived per epoch, so a resumed run replays exactly)")
    threads: int | None = Field(None, ge=1, le=256, description=THREADS_HELP)


ARTIFACT_HELP = "model file (.pt, .evz, .onnx, .xml, .tflite, .pte, .ncnn.param) or run folder"
WEIGHTS_HELP = ("initial weights: a state_dict file (.pt/.pth read without running code, or .safetensors) whose "
                "names and shapes match the model")
WEIGHTS_STRICT_HELP = ("every tensor of --weights must match the model by name and shape; false (or "
                       "--no-weights-strict): load the matching ones and keep the others' initialization (missing, "
                       "unexpected and reshaped names are counted on the card)")


class TrainStageConfig(TrainConfig):
    """``edgevision train``: a model, a dataset, a task and the loop options."""

    cli: ClassVar[Verb] = Verb(
        "train", "edgevision:train",
        "train a model for a task: classification, detection (SqueezeDet), localization (one box), segmentation",
        examples=("edgevision train --model student_cnn --data synthetic:shapes --input-size 32 --epochs 15 "
                  "--out runs/t",),)

    model: str = Field("student_cnn", description="model reference: a registered name (`edgevision models`), "
                       "package.module:callable, path/file.py:callable, timm:NAME or torchvision:NAME")
    model_kwargs: dict[str, Any] = Field(default_factory=dict, description="constructor options, e.g. width=16 or "
                                         "a JSON/YAML mapping (num_classes and in_channels come from the data when "
                                         "the constructor takes them)")
    weights: str | None = Field(None, description=WEIGHTS_HELP)
    weights_strict: bool = Field(True, description=WEIGHTS_STRICT_HELP)
    epochs: int = Field(10, ge=0, le=100_000, description="training epochs (passes over the train split); 0: no "
                        "training, the model as built (with --weights: a checkpoint) is tested and saved as an "
                        "artifact every verb reads")
    feature_layer: str | None = Field(None, description="submodule whose output is the model's features (face "
                                      "embeddings), for a model without forward_features (default: the input of "
                                      "its last nn.Linear); recorded in the architecture spec")
    task: str | None = Field(None, description="default: the model's registered task (classification if none)")
    task_options: dict[str, Any] = Field(default_factory=dict, description="task-specific options, e.g. detection "
                                         "anchors and loss weights, segmentation {loss: iou} (validated by the task)")
    data: DataConfig = Field(default_factory=DataConfig, description="the dataset and its splits")
    augment: AugmentConfig = Field(default_factory=AugmentConfig, description="augmentation of the training "
                                   "batches (val and test are never augmented)")
    init: str | None = Field(None, description="artifact whose same-named, same-shaped tensors initialize the "
                             "model")
    init_exclude: list[str] = Field(default_factory=list, description="globs of tensors not copied from init")
    transfer: Literal["frozen", "finetune", "scratch"] | None = Field(
        None, description="Björgvinsdóttir & Seibold (2016)'s transfer modes from init (the head is always new): "
        "frozen = train only the head; finetune = copied layers at LR × 0.1, head × 1; scratch = fc layers and head "
        "from scratch on a frozen conv trunk")
    transfer_head: list[str] = Field(default_factory=lambda: ["head.*"], description="parameter globs of the head "
                                     "(not copied from init by transfer)")
    resume: bool = Field(False, description="continue the interrupted run in --out from its last checkpoint (or a "
                         "finished one with more epochs)")
    overwrite: bool = Field(False, description=OVERWRITE_HELP)


class EvalConfig(ForeignOnnxOptions):
    """``edgevision eval``: which artifact, on which data and split."""

    cli: ClassVar[Verb] = Verb("eval", "edgevision:evaluate", "evaluate an artifact on a split of its dataset",
                               examples=("edgevision eval runs/t --split test",
                                         "edgevision eval net.onnx --data ../shared/datasets/mnist --mean 0.5 --std "
                                         "0.5 --input-size 28"), args=("artifact",))

    model_config = ConfigDict(extra="forbid", frozen=True)
    artifact: str = Field(..., description=ARTIFACT_HELP)
    data: DataConfig | None = Field(None, description="default: the data the artifact was trained on")
    split: Literal["train", "val", "test"] = Field("test", description="split to evaluate")
    batch_size: int = Field(128, ge=1, description="evaluation batch size")
    gallery: int = Field(8, ge=0, le=64, description="first and worst samples drawn into gallery/ (0: none)")
    threads: int | None = Field(None, ge=1, le=256, description=THREADS_HELP)

class AnchorsConfig(BaseModel):
    """``edgevision anchors DATA --k 9 --input 416x416``."""

    cli: ClassVar[Verb] = Verb(
        "anchors", "edgevision:anchors",
        "k-means anchor shapes (distance 1 − IoU) from a detection dataset's boxes; prints and saves them",
        examples=("edgevision anchors synthetic:shapes --k 9 --input-size 416x416 --out runs/anchors",),
        args=("data",), aliases=(("--input", "input_size"),),
        json="edgevision.train.anchors:read_anchors")

    model_config = ConfigDict(extra="forbid", frozen=True)
    data: DataConfig = Field(..., description="detection dataset whose ground-truth boxes are clustered")
    k: int = Field(9, ge=1, le=64, description="number of anchors (at most the number of distinct box shapes)")
    input_size: str | None = Field(None, validation_alias=AliasChoices("input_size", "input"),
                                   description="H×W the boxes are measured at (default: the data's input size)")
    split: Literal["train", "val", "test"] = Field("train", description="split whose boxes are clustered")
    seed: int = Field(0, description="seed of the k-means++ initializations (the best of 3 restarts is kept)")
