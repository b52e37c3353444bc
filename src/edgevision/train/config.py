"""Training hyper-parameters (validated early; every key and range is checked before any work starts)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..utils.threads import THREADS_HELP


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
    threads: int | None = Field(None, ge=1, le=256, description=THREADS_HELP)
