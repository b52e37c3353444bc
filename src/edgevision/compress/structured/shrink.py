"""Structured pruning that physically removes channels (the *policy* and the *surgery*).

Given the coupled channel groups of :mod:`.depgraph` and per-channel scores of :mod:`.importance`, the policy
decides how many channels each group keeps:

- ``ratio``: remove this fraction of the channels of every group (``scope="uniform"``) or of all channels,
  ranked globally by importance normalized by each group's mean (``scope="global"``);
- ``macs``: remove at least this fraction of the model's MACs; the uniform ratio (or global fraction) is
  found by bisection on a closed-form MAC estimate, then checked with :func:`count_macs`.

Kept widths are rounded to a multiple of ``round_to``. ``"auto"`` picks the fp32 SIMD width of this CPU (16 on
AVX-512, 8 on AVX2, 4 otherwise): onnxruntime's convolutions work on channel blocks of that size, so a width
of 24 on AVX-512 is padded to 32 and saves nothing (``benchmarks/speed.py`` measures round_to 1, 8 and 16 on
the same model: only the SIMD width turns half the MACs into a real speedup). The lowest-scored
channels go; every affected layer is rebuilt smaller with its surviving weights and recorded in the model's
:class:`~edgevision.models.ArchSpec` surgery, so the pruned model reloads from its spec without the original.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ...artifacts import load_artifact, save_model
from ...config import dump
from ...configs.compress import ShrinkConfig
from ...errors import ConfigError, EdgevisionError
from ...models.base import count_params, set_arch
from ...models.complexity import count_macs
from ...runs import RunDir
from ...stages import StageResult, run_stage, stage
from ...train.objects import module_input
from ...train.stage import finish_model_stage
from ...train.trainer import scalars
from ...utils.io import write_json
from ..finetune import FinetuneContext, already_done, compare, eval_metrics, finetune, open_context, primary, say
from .depgraph import DependencyGraph, build_graph
from .importance import IMPORTANCE, score
from .layers import resized, spec_after_resize

MISS_POINTS = 0.03  # a result further than this from its target (3 points) is explained in one line

@dataclass
class ShrinkInfo:
    """What pruning did: sizes before/after and the per-group widths."""

    params_before: int
    params_after: int
    macs_before: int
    macs_after: int
    groups: list[dict[str, Any]] = field(default_factory=list)
    pinned_channels: int = 0
    replaced: list[str] = field(default_factory=list)
    note: str = ""  # why the result is far from the target, when it is

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["macs_reduction"] = round(1 - self.macs_after / max(1, self.macs_before), 4)
        d["params_reduction"] = round(1 - self.params_after / max(1, self.params_before), 4)
        return d


def simd_channels() -> int:
    """fp32 lanes of the widest vector unit torch detected on this CPU (16 for AVX-512, 8 for AVX2, else 4)."""
    isa = str(torch.backends.cpu.get_cpu_capability()).upper()
    return 16 if "AVX512" in isa else 8 if "AVX2" in isa else 4


def resolve_round_to(round_to: int | str) -> int:
    return simd_channels() if round_to == "auto" else int(round_to)


def keep_count(n: int, want: float, round_to: int = 1) -> int:
    """Channels to keep out of ``n`` when ``want`` are wanted: the nearest multiple of ``round_to`` (or ``n``
    itself, i.e. unpruned), at least one. A group narrower than ``round_to`` is left whole.
    """
    if round_to <= 1:
        return int(max(1, min(n, math.ceil(want - 1e-9))))
    if n <= round_to:
        return n
    options = [*range(round_to, n + 1, round_to), n]
    return min(options, key=lambda k: (abs(k - want), k))


def kept_sizes(graph: DependencyGraph, pruned: dict[str, int]) -> dict[tuple[str, str], int]:
    """Channel count per (layer, role) after removing ``pruned[group]`` units from each group."""
    sizes = {}
    for path, lay in graph.layouts.items():
        if lay.kind == "dense":
            sizes[(path, "in")], sizes[(path, "out")] = lay.n_in, lay.n_out
        elif lay.roles:
            sizes[(path, "ch")] = lay.n_in
    for g in graph.groups:
        for member, per in g.per_unit.items():
            sizes[member] -= pruned.get(g.name, 0) * per
    return sizes


def estimate_macs(graph: DependencyGraph, total: int, pruned: dict[str, int]) -> int:
    """Batch-1 MACs after pruning: each layer scales with its kept input × output (or channel) fraction."""
    sizes = kept_sizes(graph, pruned)
    out = total
    for path, macs in graph.layer_macs.items():
        lay = graph.layouts[path]
        if lay.kind == "dense":
            frac = sizes[(path, "in")] / lay.n_in * sizes[(path, "out")] / lay.n_out
        else:
            frac = sizes[(path, "ch")] / lay.n_in if lay.roles else 1.0
        out -= macs - macs * frac
    return round(out)


def _uniform(graph: DependencyGraph, r: float, round_to: int) -> dict[str, int]:
    return {g.name: len(g) - keep_count(len(g), len(g) * (1 - r), round_to) for g in graph.groups}


def _global(graph: DependencyGraph, norm: dict[str, torch.Tensor], q: float, round_to: int, max_ratio: float
            ) -> dict[str, int]:
    """Prune units whose group-normalized score is below the global ``q``-quantile (capped per group)."""
    allv = torch.cat(list(norm.values()))
    tau = float(torch.quantile(allv, q)) if q > 0 else -math.inf
    out = {}
    for g in graph.groups:
        cut = min(int((norm[g.name] < tau).sum()), int(max_ratio * len(g)))
        out[g.name] = len(g) - keep_count(len(g), len(g) - cut, round_to)
    return out


def _policy(graph: DependencyGraph, scores: dict[str, torch.Tensor], scope: str, round_to: int,
            max_ratio: float) -> Callable[[float], dict[str, int]]:
    """Units to remove per group as a function of one knob t (a uniform ratio, or a global quantile)."""
    if scope == "global":
        norm = {k: v / v.mean().clamp_min(1e-12) for k, v in scores.items()}
        return lambda t: _global(graph, norm, t, round_to, max_ratio)
    return lambda t: _uniform(graph, min(t, max_ratio), round_to)


def _removed(graph: DependencyGraph, total: int, counts: dict[str, int]) -> float:
    """Estimated fraction of the MACs that ``counts`` removes."""
    return 1 - estimate_macs(graph, total, counts) / max(total, 1)


def choose_counts(graph: DependencyGraph, scores: dict[str, torch.Tensor], *, ratio: float | None,
                  macs: float | None, scope: str, round_to: int, max_ratio: float, total_macs: int) -> dict[str, int]:
    """Units to remove per group for a channel ``ratio`` or a MACs-reduction target ``macs``."""
    policy = _policy(graph, scores, scope, round_to, max_ratio)
    if macs is None:
        return policy(float(ratio or 0.0))
    target = total_macs * (1 - macs)
    hi = max_ratio if scope == "uniform" else 1.0
    best = policy(hi)
    if estimate_macs(graph, total_macs, best) > target:
        raise EdgevisionError(_unreachable(graph, scores, macs, scope, round_to, max_ratio, total_macs))
    lo = 0.0
    for _ in range(40):  # smallest t whose estimate meets the target
        mid = (lo + hi) / 2
        counts = policy(mid)
        if estimate_macs(graph, total_macs, counts) <= target:
            hi, best = mid, counts
        else:
            lo = mid
    return best


def _reach(graph: DependencyGraph, scores: dict[str, torch.Tensor], scope: str, round_to: int, max_ratio: float,
           total: int) -> float:
    """The largest fraction of MACs these settings can remove."""
    return _removed(graph, total, _policy(graph, scores, scope, round_to, max_ratio)(
        max_ratio if scope == "uniform" else 1.0))


def _fixed_share(graph: DependencyGraph, total: int) -> float:
    """Fraction of the MACs left even if every prunable group kept one channel (pinned layers hold them)."""
    return 1 - _removed(graph, total, {g.name: len(g) - 1 for g in graph.groups})


def _unreachable(graph: DependencyGraph, scores: dict[str, torch.Tensor], macs: float, scope: str, round_to: int,
                 max_ratio: float, total: int) -> str:
    """Why ``macs`` cannot be reached, naming the knob that would reach it and the best value reachable now."""
    reach = _reach(graph, scores, scope, round_to, max_ratio, total)
    head = (f"cannot remove {macs:.0%} of MACs: at most {reach:.1%} is removable with round_to={round_to} and "
            f"max_ratio={max_ratio} (--macs {math.floor(reach * 100) / 100:.2f} is the most these settings reach)")
    for knob, r, m in (("round_to=1", 1, max_ratio), ("max_ratio=0.99", round_to, 0.99),
                       ("round_to=1 with max_ratio=0.99", 1, 0.99)):
        if (r, m) != (round_to, max_ratio) and (alt := _reach(graph, scores, scope, r, m, total)) >= macs:
            return f"{head}; {knob} reaches it (up to {alt:.1%})"
    return (f"{head}; {_fixed_share(graph, total):.0%} of the MACs are in layers whose channels are pinned (model "
            f"input/output, ignored layers, {pinning_ops(graph)})")


def pinning_ops(graph: DependencyGraph, top: int = 3) -> str:
    """``ops the dependency graph does not know`` with the most frequent of them (``split ×12, …``)."""
    names = [f"{k} ×{n}" for k, n in list(graph.pinned_by.items())[:top]]
    more = len(graph.pinned_by) - top
    return "ops the dependency graph does not know" + (": " + ", ".join(names) + (f", +{more} kinds" if more > 0
                                                                                  else "") if names else "")


def _sizes(graph: DependencyGraph) -> str:
    sizes = sorted({len(g) for g in graph.groups})
    return ", ".join(map(str, sizes[:6])) + (", …" if len(sizes) > 6 else "")


def miss_note(graph: DependencyGraph, scores: dict[str, torch.Tensor], got: float, *, ratio: float | None,
              macs: float | None, scope: str, round_to: int, max_ratio: float, total: int) -> str:
    """One line saying why the result ``got`` (fraction of MACs, or of channels for ``ratio``) is more than
    :data:`MISS_POINTS` from its target, or ``""`` when it is close."""
    want = macs if macs is not None else float(ratio or 0.0)
    if abs(got - want) <= MISS_POINTS:
        return ""
    head = f"removed {got:.1%} of the {'MACs' if macs is not None else 'channels'} for a target of {want:.0%}"
    if round_to > 1:
        alt_counts = choose_counts(graph, scores, ratio=ratio, macs=macs, scope=scope, round_to=1,
                                   max_ratio=max_ratio, total_macs=total)
        alt = _removed(graph, total, alt_counts) if macs is not None else _channel_share(graph, alt_counts)
        if abs(alt - want) < abs(got - want):
            return (f"{head}: kept widths are multiples of round_to={round_to} (groups of {_sizes(graph)} channels); "
                    f"round_to=1 would remove {alt:.1%}")
    if got < want:
        return (f"{head}: no group loses more than max_ratio={max_ratio}, and {_fixed_share(graph, total):.0%} of "
                f"the MACs are in layers whose channels are pinned ({pinning_ops(graph)})")
    return f"{head}: the groups ({_sizes(graph)} channels) allow no finer step"


def _channel_share(graph: DependencyGraph, counts: dict[str, int]) -> float:
    return sum(counts.values()) / max(1, sum(len(g) for g in graph.groups))


def select(graph: DependencyGraph, scores: dict[str, torch.Tensor], counts: dict[str, int]) -> dict[str, list[int]]:
    """The ``counts[group]`` lowest-scored units of each group (ties broken by position, deterministic)."""
    plan = {}
    for g in graph.groups:
        k = counts.get(g.name, 0)
        if k:
            order = sorted(range(len(g)), key=lambda i: (float(scores[g.name][i]), i))
            plan[g.name] = sorted(order[:k])
    return plan


def apply_plan(graph: DependencyGraph, plan: dict[str, list[int]]) -> list[str]:
    """Rebuild every affected layer without the planned units; record surgery in the arch spec."""
    model = graph.model
    removed: dict[tuple[str, str], set[int]] = {}
    for g in graph.groups:
        for pos in plan.get(g.name, []):
            for member, idx in g.units[pos].members.items():
                removed.setdefault(member, set()).update(idx)
    modules = dict(model.named_modules())
    arch = getattr(model, "_edgevision_arch", None)
    replaced = []
    for path, lay in graph.layouts.items():
        roles = {"in": lay.n_in, "out": lay.n_out} if lay.kind == "dense" else ({"ch": lay.n_in} if lay.roles else {})
        if not any(removed.get((path, r)) for r in roles):
            continue
        keep = {r: torch.tensor(sorted(set(range(n)) - removed.get((path, r), set())), dtype=torch.long)
                for r, n in roles.items()}
        new = resized(modules[path], lay, keep)
        model.set_submodule(path, new)
        if arch is not None:
            arch = arch.with_surgery(path, spec_after_resize(new))
        replaced.append(path)
    if arch is not None:
        set_arch(model, arch)
    return replaced


def _output_shapes(model: nn.Module, shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    was = model.training
    model.eval()
    with torch.no_grad():
        out = model(torch.zeros(2, *shape))
    model.train(was)
    leaves = out if isinstance(out, tuple | list) else [out]
    return [tuple(t.shape) for t in leaves if isinstance(t, torch.Tensor)]


def shrink_model(model: nn.Module, input_shape: tuple[int, ...], *, ratio: float | None = None,
                 macs: float | None = None, importance: str = "l1", scope: str = "uniform", round_to: int | str = 1,
                 max_ratio: float = 0.9, ignore: list[str] | tuple[str, ...] = (), **ctx: Any
                 ) -> tuple[nn.Module, ShrinkInfo]:
    """Return a pruned copy of ``model`` (the original is untouched) and what changed.

    Args:
        model: any module (an edgevision model also gets its arch spec updated).
        input_shape: (C, H, W) the model is traced and measured at.
        ratio: fraction of channels to remove (per group for ``uniform``, overall for ``global``).
        macs: fraction of batch-1 MACs to remove instead of a channel ratio.
        importance: a criterion of :data:`~.importance.IMPORTANCE` (``taylor`` needs ``batches`` and ``loss_fn``
            in ``ctx``, with ``loss_fn(batch)`` running the *copy* passed as ``ctx['bind'](model)``).
        scope: ``uniform`` or ``global``.
        round_to: kept widths are multiples of this (``"auto"``: :func:`simd_channels`).
        max_ratio: no group loses more than this fraction of its channels.
        ignore: glob patterns of layer paths never to prune.
    """
    if (ratio is None) == (macs is None):
        raise ConfigError("shrink: give exactly one of ratio (channel fraction) or macs (MACs fraction)")
    if importance not in IMPORTANCE:
        IMPORTANCE.get(importance)  # raises with the allowed names
    model = copy.deepcopy(model)
    before_shapes = _output_shapes(model, input_shape)
    total = count_macs(model, input_shape)
    params = count_params(model)
    graph = build_graph(model, input_shape, ignore)
    if not graph.groups:
        raise EdgevisionError("nothing to prune: every channel is pinned (model inputs/outputs, ignored layers, or "
                              "ops the dependency graph does not understand)")
    if "bind" in ctx:
        ctx = {**ctx, "loss_fn": ctx["bind"](model)}
    scores = score(importance, graph, **ctx)
    rt = resolve_round_to(round_to)
    counts = choose_counts(graph, scores, ratio=ratio, macs=macs, scope=scope, round_to=rt, max_ratio=max_ratio,
                           total_macs=total)
    removed_channels = _channel_share(graph, counts)
    plan = select(graph, scores, counts)
    rows = [{"group": g.name, "layers": sorted({p for p, _ in g.signature}), "before": len(g),
             "after": len(g) - len(plan.get(g.name, []))} for g in graph.groups]
    replaced = apply_plan(graph, plan)
    after_shapes = _output_shapes(model, input_shape)
    if after_shapes != before_shapes:  # pragma: no cover - a bug in a channel rule, never a user error
        raise RuntimeError(f"structured pruning changed the output shapes {before_shapes} → {after_shapes}")
    info = ShrinkInfo(params, count_params(model), total, count_macs(model, input_shape), rows,
                      graph.pinned_units, replaced)
    got = info.to_dict()["macs_reduction"] if macs is not None else removed_channels
    info.note = miss_note(graph, scores, got, ratio=ratio, macs=macs, scope=scope, round_to=rt, max_ratio=max_ratio,
                          total=total)
    return model, info


# ---------------------------------------------------------------------------------------------- the stage


def _taylor_ctx(cfg: ShrinkConfig, ctx: FinetuneContext) -> dict[str, Any]:
    if cfg.importance != "taylor":
        return {}
    batches = [b for _, b in zip(range(cfg.taylor_batches), ctx.train) if "image" in b]
    return {"batches": batches, "bind": lambda m: (lambda b: ctx.task.step(m, b)["loss"])}


@stage("shrink", ShrinkConfig, input_field="artifact",
       summary="structured pruning: remove channels, rebuild smaller layers, fine-tune")
def run_shrink(cfg: ShrinkConfig, out: Path) -> StageResult:
    if (cfg.ratio is None) == (cfg.macs is None):
        raise ConfigError("shrink: give exactly one of ratio (fraction of channels) or macs (fraction of MACs)")
    run = RunDir(out)
    if (done := already_done(run, cfg)) is not None:  # reuse with --resume; never overwrite a finished run
        return done
    art = load_artifact(cfg.artifact)
    ctx = open_context(cfg, art)
    run.mkdir().write_config(dump(cfg))
    pruned_path = run.path / "pruned.pt"
    if cfg.resume and pruned_path.exists() and (run.path / "shrink.json").exists():
        model, info = load_artifact(pruned_path).model, ShrinkInfo(**read_info(run.path / "shrink.json"))
    else:
        model, info = shrink_model(art.model, art.input_shape, ratio=cfg.ratio, macs=cfg.macs,
                                   importance=cfg.importance, scope=cfg.scope, round_to=cfg.round_to,
                                   max_ratio=cfg.max_ratio, ignore=cfg.ignore, **_taylor_ctx(cfg, ctx))
        save_model(pruned_path, model, task=art.task, preprocess=art.preprocess, meta=art.meta)
        write_json(run.path / "shrink.json", info.to_dict())
    say(f"shrink: MACs {info.macs_before:,} → {info.macs_after:,} ({info.to_dict()['macs_reduction']:.1%} removed), "
        f"params {info.params_before:,} → {info.params_after:,}")
    if info.note:
        say(f"shrink: {info.note}")
    before = eval_metrics(art.model, ctx)
    pruned_only = eval_metrics(model, ctx)
    loop = finetune(model, ctx, cfg, run)
    after = eval_metrics(model, ctx) if loop["epochs_run"] else pruned_only
    metrics = {**compare(ctx, before, after), "before_finetune": scalars(pruned_only, ""), **loop}
    write_json(run.path / "shrink.json", {**info.to_dict(), "metrics": metrics})
    say(f"shrink: {ctx.task.primary} {primary(ctx, before)} → {primary(ctx, pruned_only)} (pruned) → "
        f"{primary(ctx, after)} (fine-tuned)")
    return finish_model_stage(run, "shrink", model, ctx.task, ctx.splits, ctx.data_cfg, metrics,
                              parent=str(art.path), extra={"shrink": _card_summary(info, cfg)})


def read_info(path: Path) -> dict[str, Any]:
    d = json.loads(path.read_text())
    return {k: d[k] for k in ShrinkInfo.__dataclass_fields__ if k in d}


def _card_summary(info: ShrinkInfo, cfg: ShrinkConfig) -> dict[str, Any]:
    d = info.to_dict()
    return {"importance": cfg.importance, "scope": cfg.scope, "round_to": resolve_round_to(cfg.round_to),
            "ratio": cfg.ratio,
            "macs_target": cfg.macs, "macs_before": info.macs_before, "macs_after": info.macs_after,
            "macs_reduction": d["macs_reduction"], "params_before": info.params_before,
            "params_after": info.params_after, "widths": {g["group"]: [g["before"], g["after"]] for g in info.groups}}


def shrink(artifact: str | Path | nn.Module, out: str | Path | None = None, **options: Any) -> StageResult:
    """Structured pruning of an artifact (``edgevision shrink``): removes channels, then fine-tunes.

    Example:
        >>> edgevision.shrink("runs/qs/train", macs=0.5, importance="taylor", round_to=8, epochs=3)
    """
    artifact, out, options = module_input(artifact, "shrink", out, options)
    return run_stage("shrink", {"artifact": str(artifact), **options}, out)
