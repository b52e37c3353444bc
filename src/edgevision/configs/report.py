"""The ``report`` and ``search`` stages."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .verb import Verb

HEARTBEAT_S, GRACE_S = 20, 120  # a beat every 20 s; a trial silent for 2 minutes is failed and retried


class ReportConfig(BaseModel):
    """``edgevision report``: run folders to include and the output file."""

    cli: ClassVar[Verb] = Verb(
        "report", "edgevision:report", "write one self-contained HTML report of run folders",
        examples=("edgevision report runs/quickstart --out report.html",), args=("runs",))

    model_config = ConfigDict(extra="forbid", frozen=True)
    runs: list[str] = Field(..., min_length=1, description="stage folders, or recipe run folders holding stage "
                            "folders")
    title: str | None = Field(None, description="page title (default: 'edgevision report: ' and the folder names)")


class SearchConfig(BaseModel):
    """``edgevision search``: a recipe with a ``search:`` section, and how to run the study."""

    cli: ClassVar[Verb] = Verb(
        "search", "edgevision:search",
        "hyper-parameter search over any recipe keys (Optuna): best trial or Pareto front, pruning, and workers "
        "sharing one study across processes or machines",
        examples=("edgevision search pennfudan-seg-search-quick --trials 4 --storage sqlite:///study.db --workers 2 "
                  "--out runs/search",), args=("recipe",), show="edgevision.search.run:describe")

    model_config = ConfigDict(extra="forbid", frozen=True)
    recipe: str = Field(..., description="recipe YAML with a search: section")
    trials: int | None = Field(None, ge=1, le=100_000, description="total finished trials (default: the recipe's)")
    storage: str | None = Field(None, description="sqlite:///x.db, postgresql://..., journal:///x.log "
                                                  "(default: sqlite in the output folder)")
    sampler: Literal["tpe", "random"] | None = Field(None, description="Optuna sampler (default: the recipe's "
                                                     "search.sampler, tpe)")
    study: str | None = Field(None, description="study name, shared by every worker (default: the recipe's "
                              "search.study, else its name)")
    seed: int | None = Field(None, description="sampler seed (default: the recipe's search.seed)")
    workers: int = Field(1, ge=1, le=64, description="worker processes on this machine")
    threads: int | None = Field(None, ge=1, le=256, description="torch threads per worker (default cores/workers)")
    timeout: float | None = Field(None, gt=0, description="seconds after which this machine's workers stop")
    verbose: bool = Field(False, description="show each trial's training output")
    heartbeat: int = Field(HEARTBEAT_S, ge=1, le=3600, description="seconds between a running trial's heartbeats "
                           "in the storage")
    grace: int = Field(GRACE_S, ge=2, le=86_400, description="a running trial without a heartbeat for this many "
                       "seconds (its worker died) is marked failed and retried once with the same parameters")

    @model_validator(mode="after")
    def _grace_exceeds_heartbeat(self) -> SearchConfig:
        if self.grace <= self.heartbeat:
            raise ValueError(f"grace ({self.grace} s) must be longer than heartbeat ({self.heartbeat} s)")
        return self
