"""Knowledge distillation: the loss (:class:`KDConfig`), feature hints, OpenCV teachers, the ``distill`` stage."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .data import AugmentConfig, DataConfig
from .foreign import ForeignOnnxOptions
from .train import OVERWRITE_HELP, WEIGHTS_HELP, WEIGHTS_STRICT_HELP, TrainConfig
from .verb import Verb

DEFAULT_WEIGHT = {"fitnet": 1.0, "at": 1000.0}  # hint loss weight per kind (FitNets MSE; attention transfer)

class KDConfig(BaseModel):
    """The distillation loss (validated early, like every config)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    temperature: float = Field(4.0, gt=0, le=100, description="T of the soft targets p = softmax(z/T) (Hinton et "
                               "al. 2015; unused by mse): Asplund (2016) used 6; 2.5–4 for small students")
    alpha: float = Field(0.9, ge=0, le=1, description="hinton, mse: loss = α·soft + (1 − α)·hard; kl+bce: α is the "
                         "weight of the KL term")
    beta: float = Field(1.0, ge=0, description="weight of BCE(y, P_S) in the kl+bce objective (Stanček 2024: α = β "
                        "= 1)")
    objective: Literal["hinton", "kl+bce", "mse"] = Field(
        "hinton", description="hinton: (1 − α)·CE + α·T²·KL(p_T ‖ p_S) (Hinton et al. 2015); kl+bce: α·T²·KL + "
        "β·BCE for binary classifiers (Stanček 2024); mse: MSE of zero-mean logits, the T → ∞ limit")
    zero_mean: bool = Field(False, description="subtract each position's mean logit from student and teacher "
                            "(Asplund 2016); the softmax is shift-invariant and mse zero-means anyway, so the loss "
                            "stays the same")
    scale_t2: bool = Field(True, description="multiply the KL term by T², so its gradient does not shrink as 1/T² "
                           "(Hinton et al. 2015; hinton and kl+bce)")
    soft_epochs: int = Field(0, ge=0, description="Asplund (2016)'s schedule: soft targets only for these epochs, "
                             "then hard labels only (0 = the α mix in every epoch)")
    embedding_loss: Literal["cos", "mse"] = Field(
        "cos", description="embedding teachers (dlib-face): match each normalized student embedding (through a "
        "learned projection when the sizes differ) to the teacher's by 1 − cos or squared distance")
    relational_weight: float = Field(1.0, ge=0, description="embedding teachers: weight of distance-wise relational "
                                     "KD, Huber of the batch's mean-normalized pairwise distances (Park et al. 2019)")


class HintConfig(BaseModel):
    """One feature pair: ``student`` layer → ``teacher`` layer. A string ``"s.layer:t.layer[:kind[:weight]]"``
    is accepted too (the CLI's ``--hint``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    student: str = Field(..., min_length=1, description="student module name (as in named_modules, e.g. "
                         "features.3) whose output is matched")
    teacher: str = Field(..., min_length=1, description="teacher module name whose output is the target")
    kind: Literal["fitnet", "at"] = Field(
        "fitnet", description="fitnet: ‖r(u) − v‖² with a 1×1-conv (or linear) regressor r (Romero et al. 2015); "
        "at: MSE of the normalized attention maps mean_c A_c² (Zagoruyko & Komodakis 2017)")
    weight: float | None = Field(None, ge=0, description="loss weight (default 1 for fitnet, 1000 for at: the "
                                 "paper's β)")

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, v: Any) -> Any:
        if not isinstance(v, str):
            return v
        parts = v.split(":")
        if len(parts) < 2 or len(parts) > 4 or not all(parts[:2]):
            raise ValueError(f"hint {v!r}: expected 'student.layer:teacher.layer[:fitnet|at[:weight]]'")
        out: dict[str, Any] = {"student": parts[0], "teacher": parts[1]}
        if len(parts) > 2:
            out["kind"] = parts[2]
        if len(parts) > 3:
            out["weight"] = parts[3]
        return out

    @property
    def resolved_weight(self) -> float:
        return DEFAULT_WEIGHT[self.kind] if self.weight is None else self.weight


class TeacherOptions(BaseModel):
    """Options of the built-in teachers (``teacher_options``): OpenCV detectors, dlib-face, and the adapter of a
    teacher file (``.onnx`` / ``.tflite``: what its output means and how its input is fed)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    det_size: int = Field(160, ge=64, le=1024, description="side of the square the image is resized to before "
                          "detection (hog needs ≥ 128)")
    scale: float = Field(1.05, gt=1, le=2, description="image pyramid step of detectMultiScale (HOG and Haar)")
    hit_threshold: float = Field(-1.0, description="HOG: keep windows whose SVM margin exceeds this; the score is "
                                 "the best margin (this − 1 when no window)")
    calibration_samples: int = Field(512, ge=16, description="evenly spaced training images used to fit Platt's "
                                     "p = σ(a·score + b)")
    face_box: float = Field(0.8, gt=0.2, le=1.0, description="dlib-face: side of the centred face box (fraction of "
                            "the crop's shorter side) in which its 5 landmarks are found")
    # a teacher file (.onnx through onnxruntime, .tflite through LiteRT): what its output means and how to feed it
    output: Literal["logits", "probabilities", "probability_map", "embedding"] | None = Field(
        None, description="teacher file: what its first output holds: class logits (B, K), class probabilities "
        "(B, K), a per-pixel probability map (B, K, H, W) or (B, H, W, K), or an embedding (B, D) (required for "
        ".tflite; an .onnx without it is read as an artifact)")
    class_map: list[int] | None = Field(None, description="teacher file: for each student class in order, the "
                                        "teacher's output index (default: the same K classes in the same order)")
    foreground_channel: int = Field(0, ge=0, description="teacher file, probability_map without class_map: the "
                                    "channel that holds p(foreground); it teaches the student's 'person' class "
                                    "(else its class 1) against the rest")
    input_size: int | tuple[int, int] | None = Field(None, description="teacher file: H×W it is fed (default: "
                                                     "read from the file)")
    layout: Literal["nchw", "nhwc"] | None = Field(None, description="teacher file: input (and map output) layout "
                                                   "(default: nhwc when the input's last dim is 1 or 3, else nchw)")
    channels: Literal[1, 3] | None = Field(None, description="teacher file: image channels it takes (default: "
                                           "read from the file)")
    mean: tuple[float, ...] = Field((0.0,), description="teacher file: per-channel mean subtracted on the 0–1 "
                                    "scale (0 with std 1 feeds [0, 1]; 0.5 with std 0.5 feeds [-1, 1])")
    std: tuple[float, ...] = Field((1.0,), description="teacher file: per-channel std divided by on the 0–1 scale")
    license: str | None = Field(None, description="teacher file: its licence, written into the student's card")

    @field_validator("std")
    @classmethod
    def _positive_std(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if any(s <= 0 for s in v):
            raise ValueError(f"every std must be > 0, got {', '.join(map(str, v))}")
        return v

    @field_validator("input_size")
    @classmethod
    def _positive_size(cls, v: int | tuple[int, int] | None) -> int | tuple[int, int] | None:
        if v is not None and min((v,) if isinstance(v, int) else v) < 1:
            raise ValueError(f"sides must be ≥ 1, got {v}")
        return v

    @field_validator("class_map")
    @classmethod
    def _indices(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and min(v, default=0) < 0:
            raise ValueError(f"indices must be ≥ 0, got {v}")
        return v


class DistillStageConfig(TrainConfig, KDConfig):
    """``edgevision distill``: teacher, student, data, the KD loss (:class:`KDConfig`) and the loop options."""

    cli: ClassVar[Verb] = Verb(
        "distill", "edgevision:distill",
        "knowledge distillation: train a student from a teacher artifact or an OpenCV people detector",
        examples=("edgevision distill --teacher runs/t --student student_cnn --student-kwargs width=8 --temperature 4 "
                  "--alpha 0.9 --epochs 15 --out runs/d",
                  "edgevision distill --teacher runs/t --hint features.3:stages.1 --epochs 2 --out runs/d-hint"),
        aliases=(("--hint", "hints"),))

    teacher: str = Field(..., description="artifact / run folder, or hog, haar-fullbody, haar-upperbody, dlib-face "
                         "(a face embedding: pip install -e \".[teachers]\")")
    student: str = Field("student_cnn", description="model reference of the student: a registered name, "
                         "package.module:callable, path/file.py:callable, timm:NAME or torchvision:NAME")
    student_kwargs: dict[str, Any] = Field(default_factory=dict, description="constructor options of the student, "
                                           "e.g. width=8 (num_classes and in_channels come from the data)")
    task: str | None = Field(None, description="base task (default: the teacher artifact's, else classification)")
    task_options: dict[str, Any] = Field(default_factory=dict, description="base-task options on top of the teacher "
                                         "artifact's (e.g. segmentation {loss: ce+dice}, detection distill_box)")
    data: DataConfig | None = Field(None, description="default: the data the teacher artifact was trained on")
    augment: AugmentConfig = Field(default_factory=AugmentConfig, description="augmentation of the training "
                                   "batches (online, the teacher sees the same augmented pixels)")
    mode: Literal["online", "offline"] = Field(
        "online", description="online: run the teacher on every augmented batch; offline: compute its logits on "
        "the un-augmented train images once and cache them (Asplund 2016; no hints)")
    hints: list[HintConfig] = Field(default_factory=list, description="feature pairs 'student.layer:teacher.layer"
                                    "[:fitnet|at[:weight]]', added to the loss (online mode, network teachers)")
    teacher_options: TeacherOptions = Field(default_factory=TeacherOptions, description="options of the OpenCV "
                                            "teachers (hog, haar-fullbody, haar-upperbody)")
    teacher_onnx: ForeignOnnxOptions | None = Field(
        None, description="a foreign ONNX teacher's preprocessing and task, e.g. --teacher-onnx.mean 0.5 "
        "--teacher-onnx.std 0.25 (the student's own come from --data); recorded in the file, so needed once")
    cache_dir: str | None = Field(None, description="offline teacher-logit cache folder (default: "
                                  "$EDGEVISION_CACHE/teacher-logits or ~/.cache/edgevision/teacher-logits)")
    init: str | None = Field(None, description="artifact whose same-named, same-shaped tensors initialize the "
                             "student")
    weights: str | None = Field(None, description="the student's " + WEIGHTS_HELP)
    weights_strict: bool = Field(True, description=WEIGHTS_STRICT_HELP)
    latency_budget_s: float = Field(1.0, gt=0, le=60, description="seconds of timed runs per latency measurement")
    latency_threads: int | None = Field(None, ge=1, le=256, description="torch and OpenCV threads for the latency "
                                        "comparison (default: threads, else 1)")
    resume: bool = Field(False, description="continue an interrupted run in the output folder with its saved "
                         "options (a finished run is reused)")
    overwrite: bool = Field(False, description=OVERWRITE_HELP)
