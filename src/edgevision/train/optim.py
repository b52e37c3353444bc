"""Parameter groups (per-layer LR multipliers, freezing), optimizers and learning-rate schedules.

Reference doc 003 fine-tunes with multipliers 0 (frozen), 0.1 (copied layers) and 1.0 (new layers):
``lr_mult: {"features.*": 0.1, "head.*": 1.0}``; a multiplier of 0 freezes the parameter.
The schedule is a pure function of the fractional epoch ``t``, so a resumed run continues exactly:

- step:    lr·γ^⌊t/step_size⌋
- cosine:  lr·½(1 + cos(π·t/T))
- warmup:  linear from 0 over the first ``warmup_epochs``
- plateau: lr·γ^k where k counts epochs-without-improvement events (ReduceLROnPlateau semantics)
"""

from __future__ import annotations

import fnmatch
import math

import torch
from torch import nn

from ..errors import ConfigError
from .config import TrainConfig


def _match(name: str, patterns: list[str] | dict[str, float]) -> str | None:
    for pat in patterns:
        if fnmatch.fnmatchcase(name, pat):
            return pat
    return None


def param_groups(model: nn.Module, cfg: TrainConfig) -> list[dict]:
    """Freeze matching parameters and group the rest by LR multiplier; no weight decay on biases/BN (ndim ≤ 1)."""
    for pat in [*cfg.freeze, *cfg.lr_mult]:
        if not any(fnmatch.fnmatchcase(n, pat) for n, _ in model.named_parameters()):
            names = ", ".join(n for n, _ in list(model.named_parameters())[:8])
            raise ConfigError(f"freeze/lr_mult pattern {pat!r} matches no parameter (names look like: {names}, ...)")
    groups: dict[tuple[float, bool], list[nn.Parameter]] = {}
    for name, p in model.named_parameters():
        mult = cfg.lr_mult[pat] if (pat := _match(name, cfg.lr_mult)) else 1.0
        if _match(name, cfg.freeze) or mult == 0:
            p.requires_grad_(False)
            continue
        groups.setdefault((mult, p.ndim > 1), []).append(p)
    if not groups:
        raise ConfigError("every parameter is frozen: nothing to train (check freeze and lr_mult)")
    return [{"params": ps, "lr_mult": m, "weight_decay": cfg.weight_decay if decay else 0.0, "lr": cfg.lr * m}
            for (m, decay), ps in sorted(groups.items(), key=lambda kv: kv[0])]


def make_optimizer(model: nn.Module, cfg: TrainConfig, aux: nn.Module | None = None) -> torch.optim.Optimizer:
    """The optimizer over ``model``'s groups, plus one group for ``aux`` (a task's loss-side parameters, LR × 1)."""
    groups = param_groups(model, cfg)
    if aux is not None and (extra := [p for p in aux.parameters() if p.requires_grad]):
        groups.append({"params": extra, "lr_mult": 1.0, "weight_decay": cfg.weight_decay, "lr": cfg.lr})
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov and cfg.momentum > 0)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr)
    return torch.optim.AdamW(groups, lr=cfg.lr)


def lr_factor(cfg: TrainConfig, t: float, plateau_drops: int = 0) -> float:
    """Multiplier on the base LR at fractional epoch ``t``."""
    if cfg.warmup_epochs and t < cfg.warmup_epochs:
        return (t + 1e-3) / cfg.warmup_epochs
    t_after = t - cfg.warmup_epochs
    span = max(cfg.epochs - cfg.warmup_epochs, 1e-9)
    if cfg.schedule == "step":
        return cfg.gamma ** math.floor(t_after / cfg.step_size)
    if cfg.schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * min(t_after / span, 1.0)))
    if cfg.schedule == "plateau":
        return cfg.gamma**plateau_drops
    return 1.0


def set_lr(opt: torch.optim.Optimizer, base_lr: float, factor: float) -> float:
    for g in opt.param_groups:
        g["lr"] = base_lr * g.get("lr_mult", 1.0) * factor
    return base_lr * factor
