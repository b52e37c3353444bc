"""The ``sensitivity`` stage: prune each layer alone at decreasing keep-ratios, per criterion, and measure.

Reference doc 003 (§3.2.2, Fig. 3.5) pruned every fully connected layer individually with the naive,
layer-wise and neuron-wise criteria, keeping 80 % down to 1 % of its weights with finer steps at the sparse
end, and plotted accuracy against the fraction kept; Han et al. (2015) use the same analysis to choose
per-layer thresholds. This stage does that for any artifact and task (the task's primary metric, on the
validation split by default — choosing sparsities on the test split would leak it), writes
``sensitivity.json`` and ``sensitivity.png``, and, given a tolerated metric drop, proposes per-layer
sparsities that plug straight into ``edgevision prune --sparsity``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from ..artifacts import load_artifact
from ..config import dump
from ..data import BatchLoader, BatchTransform, DataConfig
from ..data.base import SubsetDataset, TensorSampleDataset
from ..runs import RunDir, make_card
from ..stages import StageResult, run_stage, stage
from ..tasks import Task, build_task
from ..train.evaluate import data_for
from ..train.trainer import evaluate_model
from ..utils.io import write_json
from ..utils.progress import console, make_progress
from ..utils.threads import THREADS_HELP
from . import criteria
from .targets import select, weight

KEEP = [0.8, 0.6, 0.5, 0.4, 0.3, 0.2, 0.15, 0.1, 0.07, 0.05, 0.03, 0.02, 0.01]


class SensitivityConfig(BaseModel):
    """``edgevision sensitivity``: layers, criteria, keep-ratios, evaluation split, tolerated loss."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    artifact: str = Field(..., description="model (.pt/.evz) or run folder")
    criteria: list[Literal["naive", "layerwise", "neuronwise"]] = Field(
        default_factory=lambda: ["naive", "layerwise", "neuronwise"], min_length=1)
    keep: list[float] = Field(default_factory=lambda: list(KEEP), min_length=1, description="fractions kept")
    layers: list[str] = Field(default_factory=lambda: ["*"], description="globs of conv/linear layers to sweep")
    split: Literal["train", "val", "test"] = "val"
    data: DataConfig | None = None
    limit: int | None = Field(None, ge=1, description="evaluate on at most this many samples")
    batch_size: int = Field(256, ge=1)
    tolerance: float | None = Field(0.01, ge=0, description="tolerated drop of the primary metric for the proposal")
    threads: int | None = Field(None, ge=1, le=256, description=THREADS_HELP)


def _subset(ds, limit: int | None):
    if not limit or len(ds) <= limit:
        return ds
    idx = np.linspace(0, len(ds) - 1, limit).astype(np.int64)  # evenly spaced: deterministic, class-balanced-ish
    return ds.subset(idx) if isinstance(ds, TensorSampleDataset) else SubsetDataset(ds, idx, f"first{limit}")


def _metric(model: nn.Module, task: Task, loader: BatchLoader) -> float:
    return float(evaluate_model(model, task, loader)[task.primary])


def sweep(model: nn.Module, task: Task, loader: BatchLoader, selected: dict[str, nn.Module], cfg: SensitivityConfig,
          baseline: float) -> list[dict[str, Any]]:
    """One row per (layer, criterion, keep): the metric with only that layer pruned. Identical masks
    (naive and layerwise rank the same way within a layer) are evaluated once."""
    rows, cache = [], {}
    total = len(selected) * len(cfg.criteria) * len(cfg.keep)
    with make_progress("metric") as bar:
        job = bar.add_task("sensitivity", total=total, metric="-")
        for name, module in selected.items():
            w = weight(module)
            orig = w.detach().clone()
            for crit in cfg.criteria:
                for keep in cfg.keep:
                    masks, gammas = criteria.masks_for_sparsity(crit, {name: orig}, {name: 1 - keep})
                    key = (name, hashlib.sha1(masks[name].numpy().tobytes()).hexdigest())
                    if key not in cache:
                        with torch.no_grad():
                            w.copy_(orig.masked_fill(~masks[name], 0.0))
                        cache[key] = _metric(model, task, loader)
                    rows.append({"layer": name, "criterion": crit, "keep": keep, "sparsity": round(1 - keep, 6),
                                 "gamma": gammas[name], "metric": cache[key], "drop": baseline - cache[key]
                                 if task.mode == "max" else cache[key] - baseline})
                    bar.update(job, advance=1, metric=f"{cache[key]:.4f}")
            with torch.no_grad():
                w.copy_(orig)
    return rows


def propose(rows: list[dict[str, Any]], sizes: dict[str, int], tolerance: float) -> dict[str, Any]:
    """Per criterion, the largest sparsity of each layer such that it and every smaller swept sparsity keep the
    drop within ``tolerance`` (a noisy lucky point past a failure is not trusted)."""
    out: dict[str, Any] = {}
    for crit in sorted({r["criterion"] for r in rows}):
        chosen = {}
        for name in sizes:
            pts = sorted((r["sparsity"], r["drop"]) for r in rows if r["layer"] == name and r["criterion"] == crit)
            chosen[name] = 0.0
            for sp, drop in pts:
                if drop > tolerance:
                    break
                chosen[name] = sp
        removed = sum(round(chosen[n] * sizes[n]) for n in sizes)
        out[crit] = {"sparsity": chosen, "removed_params": removed,
                     "overall_sparsity": removed / max(sum(sizes.values()), 1)}
    return out


def plot(result: dict[str, Any], path: Path) -> Path:
    """Metric against fraction of weights kept (log axis), one panel per layer, one line per criterion."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(result["layers"])[:12]
    cols = min(len(names), 4)
    nrows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(3.2 * cols, 2.6 * nrows), squeeze=False, sharey=True)
    for ax, name in zip(axes.ravel(), names):
        for crit in dict.fromkeys(r["criterion"] for r in result["rows"]):
            pts = sorted((r["keep"], r["metric"]) for r in result["rows"]
                         if r["layer"] == name and r["criterion"] == crit)
            ax.plot(*zip(*pts), marker="o", ms=3, label=crit)
        ax.axhline(result["baseline"], color="grey", lw=0.8, ls="--")
        ax.set_xscale("log")
        ax.invert_xaxis()
        ax.set_title(f"{name} ({result['layers'][name]:,})", fontsize=9)
        ax.set_xlabel("fraction of weights kept", fontsize=8)
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    axes[0, 0].set_ylabel(f"{result['split']} {result['metric']}")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


@stage("sensitivity", SensitivityConfig, input_field="artifact", summary="per-layer pruning sensitivity sweep")
def run_sensitivity(cfg: SensitivityConfig, out: Path) -> StageResult:
    art = load_artifact(cfg.artifact)
    task = build_task(art.task)
    data_cfg, splits = data_for(art, cfg.data, task.name)
    ds = _subset(splits.split(cfg.split), cfg.limit)
    loader = BatchLoader(ds, cfg.batch_size, shuffle=False, transform=BatchTransform(splits.mean, splits.std))
    model = art.model.eval()
    selected = select(model, cfg.layers, "layers")
    baseline = _metric(model, task, loader)
    console.print(f"sensitivity of {len(selected)} layers × {len(cfg.criteria)} criteria × {len(cfg.keep)} ratios on "
                  f"{len(ds)} {cfg.split} samples (baseline {task.primary} {baseline:.4f})", highlight=False,
                  soft_wrap=True)
    rows = sweep(model, task, loader, selected, cfg, baseline)
    sizes = {n: weight(m).numel() for n, m in selected.items()}
    result = {"metric": task.primary, "mode": task.mode, "split": cfg.split, "n": len(ds), "baseline": baseline,
              "layers": sizes, "rows": rows, "tolerance": cfg.tolerance}
    if cfg.tolerance is not None:
        result["proposals"] = propose(rows, sizes, cfg.tolerance)
        result["recommended"] = max(result["proposals"], key=lambda c: result["proposals"][c]["removed_params"])
    run = RunDir(out).mkdir()
    run.write_config(dump(cfg))
    write_json(run.path / "sensitivity.json", result)
    plot(result, run.path / "sensitivity.png")
    card = make_card("sensitivity", task=art.task, model=art.arch.to_dict(), parent=str(art.path),
                     metrics={cfg.split: {task.primary: baseline}}, data=data_cfg.model_dump(mode="json"),
                     proposal=(result.get("proposals") or {}).get(result.get("recommended", ""), None),
                     recommended=result.get("recommended"))
    run.write_card(card)
    if "recommended" in result:
        p = result["proposals"][result["recommended"]]
        console.print(f"proposal ({result['recommended']}, drop ≤ {cfg.tolerance}): {p['overall_sparsity']:.1%} "
                      f"of the weights: {p['sparsity']}", highlight=False, soft_wrap=True)
    return StageResult(run.path, None, card)


def sensitivity(artifact: str | Path, out: str | Path | None = None, **options: Any) -> StageResult:
    """Sweep per-layer pruning sensitivity; ``edgevision sensitivity`` in Python.

    Example:
        >>> res = edgevision.sensitivity("runs/lenet/train", layers=["fc*"], tolerance=0.005)
        >>> res.card["proposal"]["sparsity"]   # feed to edgevision.prune(..., sparsity=...)
    """
    return run_stage("sensitivity", {"artifact": str(artifact), **options}, out)
