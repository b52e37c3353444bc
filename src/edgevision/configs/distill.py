"""Knowledge distillation: the loss (:class:`KDConfig`), feature hints, OpenCV teachers, the ``distill`` stage."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .data import AugmentConfig, DataConfig
from .train import TrainConfig
from .verb import Verb

DEFAULT_WEIGHT = {"fitnet": 1.0, "at": 1000.0}  # hint loss weight per kind (FitNets MSE; attention transfer)

class KDConfig(BaseModel):
    """The distillation loss (validated early, like every config)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    temperature: float = Field(4.0, gt=0, le=100, description="T: doc 000 used 6; 2.5–4 for small students")
    alpha: float = Field(0.9, ge=0, le=1, description="weight of the soft term (hinton, mse) or of KL (kl+bce)")
    beta: float = Field(1.0, ge=0, description="weight of BCE in the kl+bce objective")
    objective: Literal["hinton", "kl+bce", "mse"] = "hinton"
    zero_mean: bool = Field(False, description="subtract the per-sample mean logit (doc 000)")
    scale_t2: bool = Field(True, description="multiply the KL term by T² (Hinton 2015)")
    soft_epochs: int = Field(0, ge=0, description="soft targets only for these epochs, then hard labels only")


class HintConfig(BaseModel):
    """One feature pair: ``student`` layer → ``teacher`` layer. A string ``"s.layer:t.layer[:kind[:weight]]"``
    is accepted too (the CLI's ``--hint``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    student: str = Field(..., min_length=1)
    teacher: str = Field(..., min_length=1)
    kind: Literal["fitnet", "at"] = "fitnet"
    weight: float | None = Field(None, ge=0, description="default 1 (fitnet) or 1000 (at)")

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
    """Options of the built-in OpenCV teachers (``teacher_options``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    det_size: int = Field(160, ge=64, le=1024, description="side the image is resized to before detection")
    scale: float = Field(1.05, gt=1, le=2, description="pyramid step of detectMultiScale")
    hit_threshold: float = Field(-1.0, description="HOG: keep windows whose SVM margin exceeds this")
    calibration_samples: int = Field(512, ge=16, description="training images used to fit p = σ(a·score + b)")


class DistillStageConfig(TrainConfig, KDConfig):
    """``edgevision distill``: teacher, student, data, the KD loss (:class:`KDConfig`) and the loop options."""

    cli: ClassVar[Verb] = Verb(
        "distill", "edgevision:distill",
        "knowledge distillation: train a student from a teacher artifact or an OpenCV people detector",
        examples=("edgevision distill --teacher runs/t --student student_cnn --student-kwargs width=8 --temperature 4 "
                  "--alpha 0.9 --epochs 15 --out runs/d",
                  "edgevision distill --teacher runs/t --hint features.3:stages.1 --epochs 2 --out runs/d-hint"),
        aliases=(("--hint", "hints"),))

    teacher: str = Field(..., description="artifact / run folder, or hog, haar-fullbody, haar-upperbody")
    student: str = Field("student_cnn", description="registered model name of the student")
    student_kwargs: dict[str, Any] = Field(default_factory=dict)
    task: str | None = Field(None, description="base task (default: the teacher artifact's, else classification)")
    task_options: dict[str, Any] = Field(default_factory=dict, description="base-task options on top of the teacher "
                                         "artifact's (e.g. segmentation {loss: ce+dice}, detection distill_box)")
    data: DataConfig | None = Field(None, description="default: the data the teacher artifact was trained on")
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    mode: Literal["online", "offline"] = "online"
    hints: list[HintConfig] = Field(default_factory=list, description="feature pairs 'student.layer:teacher.layer'")
    teacher_options: TeacherOptions = Field(default_factory=TeacherOptions)
    cache_dir: str | None = Field(None, description="offline cache folder (default ~/.cache/edgevision/...)")
    init: str | None = Field(None, description="artifact whose matching weights initialize the student")
    latency_budget_s: float = Field(1.0, gt=0, le=60, description="seconds of timed runs per latency measurement")
    latency_threads: int = Field(1, ge=1, le=256, description="torch and OpenCV threads for the latency comparison")
    resume: bool = False
