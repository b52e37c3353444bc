"""Verbs around recipes and registries: ``run``, ``quickstart``, ``list`` and ``models``."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from .verb import Verb


class RunConfig(BaseModel):
    """``edgevision run``: a recipe file, or the name of a packaged recipe."""

    cli: ClassVar[Verb] = Verb(
        "run", "edgevision:run", "run a recipe: a YAML list of stages (resumes finished stages)",
        examples=("edgevision run quickstart --out runs/qs",), args=("recipe",),
        show="edgevision.report.terminal:describe_run")

    model_config = ConfigDict(extra="forbid", frozen=True)
    recipe: str = Field(..., description="recipe YAML file, or a packaged recipe's name (`edgevision list recipes`)")
    force: bool = Field(False, description="re-run stages that are already complete")


class QuickstartConfig(BaseModel):
    """``edgevision quickstart``: the packaged quickstart recipe on the synthetic shapes."""

    cli: ClassVar[Verb] = Verb(
        "quickstart", "edgevision:quickstart",
        "the embedded recipe on synthetic shapes: train → distill → prune → cluster → pack → export → bench → report",
        examples=("edgevision quickstart --out runs/quickstart",), show="edgevision.report.terminal:describe_run")

    model_config = ConfigDict(extra="forbid", frozen=True)


class ListConfig(BaseModel):
    """``edgevision list``: what a registry holds (models, data sources, tasks, exporters, criteria, ...)."""

    cli: ClassVar[Verb] = Verb(
        "list", "edgevision:listing", "list the registries, or the entries of one (models, sources, tasks, ...)",
        examples=("edgevision list", "edgevision list importance"), args=("registry",), out=False,
        show="edgevision.listing:describe")

    model_config = ConfigDict(extra="forbid", frozen=True)
    registry: str | None = Field(None, description="a registry's name (default: list the registries)")


class ModelsConfig(BaseModel):
    """``edgevision models``: the registered architectures with their params and MACs."""

    cli: ClassVar[Verb] = Verb("models", "edgevision:list_models",
                               "list the registered architectures with params and MACs, or the shipped pretrained "
                               "models",
                               examples=("edgevision models", "edgevision models --pretrained"), out=False,
                               show="edgevision.bench.profile:describe_models")

    model_config = ConfigDict(extra="forbid", frozen=True)
    pretrained: bool = Field(False, description="list the pretrained models shipped in the package (their names "
                             "work wherever an artifact is expected: predict, eval, demo, profile, export, bench)")
