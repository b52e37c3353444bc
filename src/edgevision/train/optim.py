"""Parameter groups (per-layer LR multipliers, freezing), optimizers and learning-rate schedules.

Björgvinsdóttir & Seibold (2016) fine-tunes with multipliers 0 (frozen), 0.1 (copied layers) and 1.0 (new layers):
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

from ..configs.train import TrainConfig
from ..errors import ConfigError


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


@torch.no_grad()
def apply_max_norm(model: nn.Module, c: float) -> int:
    """Max-norm regularization (Srivastava et al. 2014, JMLR 15, §5.1), used with dropout by Hinton et al. 2015.

    Every unit's incoming weight vector ``w_j`` (one output row of a ``Linear`` or conv weight) is projected back
    onto the ball ``‖w_j‖₂ ≤ c`` after each step: ``w_j ← w_j · min(1, c / ‖w_j‖₂)``. Biases and frozen weights
    are left alone. Returns how many rows were rescaled.
    """
    rescaled = 0
    for m in model.modules():
        w = getattr(m, "weight", None)
        if not isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)) or w is None or not w.requires_grad:
            continue
        norms = w.detach().flatten(1).norm(dim=1)
        over = norms > c
        if over.any():
            scale = torch.where(over, c / norms.clamp(min=1e-12), torch.ones_like(norms))
            w.mul_(scale.view(-1, *([1] * (w.ndim - 1))).to(w.dtype))
            rescaled += int(over.sum())
    return rescaled


def lr_factor(cfg: TrainConfig, t: float, plateau_drops: int = 0) -> float:
    """Multiplier on the base LR at fractional epoch ``t``."""
    if cfg.warmup_epochs and t < cfg.warmup_epochs:
        return (t + 1e-3) / cfg.warmup_epochs
    t_after = t - cfg.warmup_epochs
    span = max(cfg.epochs - cfg.warmup_epochs, 1e-9)
    if cfg.schedule == "step":
        return cfg.lr_decay ** math.floor(t_after / cfg.step_size)
    if cfg.schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * min(t_after / span, 1.0)))
    if cfg.schedule == "plateau":
        return cfg.lr_decay**plateau_drops
    return 1.0


def set_lr(opt: torch.optim.Optimizer, base_lr: float, factor: float) -> float:
    for g in opt.param_groups:
        g["lr"] = base_lr * g.get("lr_mult", 1.0) * factor
    return base_lr * factor
