"""The ``search:`` section of a recipe: the search space, the objectives and the pruner.

```yaml
search:
  trials: 30                   # total finished trials of the study (across all workers)
  sampler: tpe                 # tpe | random
  objectives:                  # one → best value; two or more → the Pareto front
    - {stage: train, key: metrics.val.miou}              # any card.json path of a stage (direction inferred)
    - {stage: train, latency: {engine: onnxruntime, threads: 1}}   # measured ms per frame, minimized
  pruner: {kind: median, warmup_epochs: 2}               # single-objective studies only
  params:                                                # any recipe key path → a distribution
    stages.train.lr: {low: 1.0e-4, high: 1.0e-2, log: true}
    stages.train.task_options.loss: {choices: [ce, iou, dice]}
    stages.train.model_kwargs.width_mult: {choices: [0.5, 1.0]}
    data.input_size: {choices: [128, 192, 256]}
    stages.train.epochs: {type: int, low: 4, high: 12, step: 4}
    stages.distill.temperature: {low: 1, high: 20, when: {stages.distill.loss: kd}}   # conditional
```

Key paths are dotted: ``stages.<name>`` picks the stage with that ``name`` (or verb) — or ``stages.<index>`` —
and the rest walks (and creates) nested mappings; other paths start at the recipe's top level (``data.…``,
``seed``). A parameter with ``when`` is only sampled when every listed path already holds the given value.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ParamSpec(BaseModel):
    """One dimension: ``choices`` (categorical), or ``low``/``high`` (float unless ``type: int``), ``log``,
    ``step``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["float", "int", "categorical"] | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = Field(None, gt=0)
    choices: list[Any] | None = Field(None, min_length=1)
    when: dict[str, Any] | None = Field(None, description="sample only if these key paths hold these values")

    @model_validator(mode="after")
    def _check(self) -> ParamSpec:
        kind = self.kind
        if kind == "categorical" and not self.choices:
            raise ValueError("a categorical parameter needs 'choices'")
        if kind != "categorical":
            if self.low is None or self.high is None:
                raise ValueError("needs 'choices', or 'low' and 'high'")
            if self.low > self.high:
                raise ValueError(f"low {self.low} > high {self.high}")
            if self.log and self.low <= 0:
                raise ValueError("log scale needs low > 0")
            if self.log and self.step:
                raise ValueError("'log' and 'step' cannot be combined")
        return self

    @property
    def kind(self) -> str:
        return self.type or ("categorical" if self.choices is not None else "float")


class LatencySpec(BaseModel):
    """Measure the stage's artifact: batch-1 median ms after a warm-up, on ``engine`` with ``threads``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    engine: Literal["onnxruntime", "torch"] = "onnxruntime"
    threads: int = Field(1, ge=1, le=256)
    budget_s: float = Field(1.0, gt=0, le=60)


class ObjectiveSpec(BaseModel):
    """A value to optimize: a card path of a stage (``key``), or the measured ``latency`` of its artifact."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    stage: str | None = Field(None, description="stage name (default: the first training stage)")
    key: str | None = Field(None, description="dotted path in the stage's card.json (default metrics.val.<primary>)")
    latency: LatencySpec | None = None
    direction: Literal["maximize", "minimize"] | None = None
    name: str | None = None

    @model_validator(mode="after")
    def _one(self) -> ObjectiveSpec:
        if self.key and self.latency:
            raise ValueError("give either 'key' or 'latency', not both")
        return self


class PrunerSpec(BaseModel):
    """Stop unpromising trials early from their per-epoch validation values (single objective only)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["median", "percentile", "hyperband", "none"] = "median"
    startup_trials: int = Field(5, ge=0, description="trials that always run to the end first")
    warmup_epochs: int = Field(2, ge=0, description="epochs of a trial before it may be pruned")
    percentile: float = Field(25.0, gt=0, lt=100, description="percentile pruner: keep the top (100 − p) %")


class SearchSection(BaseModel):
    """The recipe's ``search:`` mapping (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    study: str | None = Field(None, description="study name (default: the recipe's name)")
    trials: int = Field(20, ge=1, le=100_000)
    sampler: Literal["tpe", "random"] = "tpe"
    seed: int | None = None
    objectives: list[ObjectiveSpec] = Field(default_factory=lambda: [ObjectiveSpec()], min_length=1)
    pruner: PrunerSpec = Field(default_factory=PrunerSpec)
    params: dict[str, ParamSpec] = Field(..., min_length=1)
    skip_stages: list[str] = Field(default_factory=lambda: ["report"], description="verbs not run in trials")
    keep_checkpoints: bool = Field(False, description="keep each trial's checkpoints/ (large)")
