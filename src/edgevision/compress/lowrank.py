"""Low-rank factorization: replace a layer by two cheaper ones initialised from its weights, then fine-tune.

- ``svd`` (Linear, Denton et al. 2014): ``W ≈ U_r Σ_r V_rᵀ`` → ``Linear(in, r)`` with ``Σ_r^½ V_rᵀ`` then
  ``Linear(r, out)`` with ``U_r Σ_r^½``; MACs ``in·out → r·(in + out)``.
- ``separable`` (k×k conv, Tai et al. 2016, "Convolutional neural networks with low-rank regularization"):
  reshape ``W[o, i, y, x]`` to ``M[(i, y), (o, x)]``, take its rank-r SVD; the left factors are r vertical
  k×1 filters over the input channels, the right factors r-to-out 1×k filters. Exact at full rank.
- ``dwsep`` (conv → depthwise k×k + pointwise 1×1, as in MobileNet): for each input channel ``i`` the best
  rank-1 approximation ``W[:, i] ≈ σ u vᵀ`` gives the depthwise kernel ``√σ·v`` and pointwise column ``√σ·u``;
  MACs per pixel ``k²·ci·co → k²·ci + ci·co``.

The rank is the smallest that keeps a fraction ``energy`` of Σσ², or given by ``rank`` / ``rank_ratio``. A layer
is replaced only if it saves at least ``min_saving`` of its MACs. Replacements are plain ``Sequential``s of
registered layers, recorded as surgery, so the model reloads from its spec.
"""

from __future__ import annotations

import copy
import fnmatch
import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..artifacts import load_artifact
from ..config import dump
from ..configs.compress import LowRankConfig
from ..errors import ConfigError
from ..models.base import set_arch
from ..models.complexity import count_macs
from ..models.modspec import module_to_spec
from ..runs import RunDir
from ..stages import StageResult, run_stage, stage
from ..train.objects import module_input
from ..train.stage import finish_model_stage
from ..train.trainer import scalars
from ..utils.io import write_json
from .finetune import already_done, compare, eval_metrics, finetune, open_context, primary, say

METHODS = ("svd", "separable", "dwsep")


def choose_rank(s: torch.Tensor, energy: float | None = None, rank: int | None = None,
                rank_ratio: float | None = None) -> int:
    """Rank from singular values ``s`` (descending): explicit, a ratio of full rank, or kept energy Σσ²."""
    full = len(s)
    if rank is not None:
        return max(1, min(full, rank))
    if rank_ratio is not None:
        return max(1, min(full, math.ceil(rank_ratio * full)))
    e = torch.cumsum(s.double() ** 2, 0) / (s.double() ** 2).sum().clamp_min(1e-30)
    return min(full, int(torch.searchsorted(e, torch.tensor(energy or 0.9, dtype=torch.float64)).item()) + 1)


def svd_linear(m: nn.Linear, r: int) -> nn.Sequential:
    u, s, vt = torch.linalg.svd(m.weight.detach().double(), full_matrices=False)
    root = s[:r].sqrt()
    first, second = nn.Linear(m.in_features, r, bias=False), nn.Linear(r, m.out_features, bias=m.bias is not None)
    with torch.no_grad():
        first.weight.copy_((root[:, None] * vt[:r]).float())
        second.weight.copy_((u[:, :r] * root).float())
        if m.bias is not None:
            second.bias.copy_(m.bias)
    return nn.Sequential(first, second)


def _conv(cin: int, cout: int, k: tuple, s: tuple, p: tuple, d: tuple, groups: int = 1, bias: bool = False
          ) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=s, padding=p, dilation=d, groups=groups, bias=bias)


def separable_conv(m: nn.Conv2d, r: int) -> nn.Sequential:
    """k×k → (kh×1 over ci → r) then (1×kw over r → co), strides/padding/dilation split by axis."""
    w = m.weight.detach().double()  # (co, ci, kh, kw)
    co, ci, kh, kw = w.shape
    mat = w.permute(1, 2, 0, 3).reshape(ci * kh, co * kw)  # M[(i, y), (o, x)]
    u, s, vt = torch.linalg.svd(mat, full_matrices=False)
    root = s[:r].sqrt()
    v = (u[:, :r] * root).T.reshape(r, ci, kh, 1)
    h = (root[:, None] * vt[:r]).reshape(r, co, kw).permute(1, 0, 2).reshape(co, r, 1, kw)
    (sh, sw), (ph, pw), (dh, dw) = m.stride, m.padding, m.dilation
    first = _conv(ci, r, (kh, 1), (sh, 1), (ph, 0), (dh, 1))
    second = _conv(r, co, (1, kw), (1, sw), (0, pw), (1, dw), bias=m.bias is not None)
    with torch.no_grad():
        first.weight.copy_(v.float())
        second.weight.copy_(h.float())
        if m.bias is not None:
            second.bias.copy_(m.bias)
    return nn.Sequential(first, second)


def dwsep_conv(m: nn.Conv2d) -> nn.Sequential:
    """k×k conv → depthwise k×k (per input channel) + pointwise 1×1, best rank-1 per input channel."""
    w = m.weight.detach().double()  # (co, ci, kh, kw)
    co, ci, kh, kw = w.shape
    u, s, vt = torch.linalg.svd(w.permute(1, 0, 2, 3).reshape(ci, co, kh * kw), full_matrices=False)
    root = s[:, 0].sqrt()  # (ci,)
    depth = _conv(ci, ci, (kh, kw), m.stride, m.padding, m.dilation, groups=ci)
    point = _conv(ci, co, (1, 1), (1, 1), (0, 0), (1, 1), bias=m.bias is not None)
    with torch.no_grad():
        depth.weight.copy_((root[:, None] * vt[:, 0, :]).reshape(ci, 1, kh, kw).float())
        point.weight.copy_((u[:, :, 0] * root[:, None]).T.reshape(co, ci, 1, 1).float())
        if m.bias is not None:
            point.bias.copy_(m.bias)
    return nn.Sequential(depth, point)


def _eligible(m: nn.Module, method: str) -> bool:
    if method == "svd":
        return isinstance(m, nn.Linear) and min(m.in_features, m.out_features) > 1
    ok = type(m) is nn.Conv2d and m.groups == 1 and m.padding_mode == "zeros" and not isinstance(m.padding, str)
    return ok and (m.kernel_size[0] > 1 and m.kernel_size[1] > 1)


def _input_shapes(model: nn.Module, shape: tuple[int, ...], paths: list[str]) -> dict[str, tuple[int, ...]]:
    """Per-sample input shape of each layer in ``paths`` (one forward pass with hooks)."""
    seen: dict[str, tuple[int, ...]] = {}
    mods = dict(model.named_modules())
    def hook(path: str):
        def record(module: nn.Module, args: tuple) -> None:
            seen.setdefault(path, tuple(args[0].shape[1:]))  # returns None: the inputs are left alone
        return record

    hooks = [mods[p].register_forward_pre_hook(hook(p)) for p in paths]
    was = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, *shape))
    model.train(was)
    for h in hooks:
        h.remove()
    return seen


def factorize(model: nn.Module, input_shape: tuple[int, ...], method: str = "svd", layers: list[str] | None = None,
              energy: float | None = 0.9, rank: int | None = None, rank_ratio: float | None = None,
              min_saving: float = 0.1) -> tuple[nn.Module, list[dict[str, Any]]]:
    """A factorized copy of ``model`` and one row per replaced layer (rank, MACs before/after)."""
    if method not in METHODS:
        raise ConfigError(f"lowrank method {method!r}: allowed: {', '.join(METHODS)}")
    model = copy.deepcopy(model)
    mods = dict(model.named_modules())
    cands = [p for p, m in mods.items() if p and _eligible(m, method)
             and (not layers or any(fnmatch.fnmatchcase(p, g) for g in layers))]
    if layers and not cands:
        raise ConfigError(f"lowrank: no {method}-eligible layer matches {layers}; eligible: "
                          f"{', '.join(p for p, m in mods.items() if p and _eligible(m, method)) or 'none'}")
    shapes = _input_shapes(model, input_shape, cands)
    arch = getattr(model, "_edgevision_arch", None)
    rows = []
    for path in cands:
        if path not in shapes:
            continue  # never called in forward
        m = mods[path]
        new, r = _replacement(m, method, energy, rank, rank_ratio)
        before, after = count_macs(m, shapes[path]), count_macs(new, shapes[path])
        if after > (1 - min_saving) * before:
            continue
        new.train(m.training)
        model.set_submodule(path, new)
        if arch is not None:
            arch = arch.with_surgery(path, module_to_spec(new))
        rows.append({"layer": path, "kind": method, "rank": r, "macs_before": before, "macs_after": after})
    if arch is not None:
        set_arch(model, arch)
    return model, rows


def _replacement(m: nn.Module, method: str, energy: float | None, rank: int | None, rank_ratio: float | None
                 ) -> tuple[nn.Module, int | None]:
    if method == "dwsep":
        return dwsep_conv(m), None
    if method == "svd":
        s = torch.linalg.svdvals(m.weight.detach().double())
        r = choose_rank(s, energy, rank, rank_ratio)
        return svd_linear(m, r), r
    co, ci, kh, kw = m.weight.shape
    s = torch.linalg.svdvals(m.weight.detach().double().permute(1, 2, 0, 3).reshape(ci * kh, co * kw))
    r = choose_rank(s, energy, rank, rank_ratio)
    return separable_conv(m, r), r


# ---------------------------------------------------------------------------------------------- the stage


@stage("lowrank", LowRankConfig, input_field="artifact",
       summary="low-rank factorization (SVD, k×1+1×k, depthwise-separable) + fine-tuning")
def run_lowrank(cfg: LowRankConfig, out: Path) -> StageResult:
    run = RunDir(out)
    if (done := already_done(run, cfg)) is not None:  # reuse with --resume; never overwrite a finished run
        return done
    art = load_artifact(cfg.artifact)
    ctx = open_context(cfg, art)
    model, rows = factorize(art.model, art.input_shape, cfg.method, cfg.layers, cfg.energy, cfg.rank,
                            cfg.rank_ratio, cfg.min_saving)
    if not rows:
        raise ConfigError(f"lowrank: no layer saves ≥ {cfg.min_saving:.0%} of its MACs with method={cfg.method} "
                          f"(energy={cfg.energy}); lower energy/rank or min_saving")
    run.mkdir().write_config(dump(cfg))
    m0, m1 = count_macs(art.model, art.input_shape), count_macs(model, art.input_shape)
    say(f"lowrank: {len(rows)} layer(s) factorized ({cfg.method}); MACs {m0:,} → {m1:,}")
    before, factored = eval_metrics(art.model, ctx), eval_metrics(model, ctx)
    loop = finetune(model, ctx, cfg, run)
    after = eval_metrics(model, ctx) if loop["epochs_run"] else factored
    metrics = {**compare(ctx, before, after), "before_finetune": scalars(factored, ""), **loop}
    write_json(run.path / "lowrank.json", {"method": cfg.method, "macs_before": m0, "macs_after": m1,
                                           "layers": rows, "metrics": metrics})
    say(f"lowrank: {ctx.task.primary} {primary(ctx, before)} → {primary(ctx, factored)} (factorized) → "
        f"{primary(ctx, after)} (fine-tuned)")
    return finish_model_stage(run, "lowrank", model, ctx.task, ctx.splits, ctx.data_cfg, metrics,
                              parent=str(art.path), extra={"lowrank": {"method": cfg.method, "macs_before": m0,
                                                                       "macs_after": m1, "layers": len(rows)}})


def lowrank(artifact: str | Path | nn.Module, out: str | Path | None = None, **options: Any) -> StageResult:
    """Low-rank factorization of an artifact (``edgevision lowrank``), then fine-tuning.

    Example:
        >>> edgevision.lowrank("runs/mnist/train", method="svd", energy=0.8, epochs=2)
    """
    artifact, out, options = module_input(artifact, "lowrank", out, options)
    return run_stage("lowrank", {"artifact": str(artifact), **options}, out)
