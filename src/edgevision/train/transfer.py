"""Björgvinsdóttir & Seibold's (2016) three transfer-learning modes, as ``train`` options for any registered model.

Pre-train on one set of identities (classes), then adapt to another. With ``init`` = the pre-trained
artifact, the modes set which tensors are copied, which are frozen, and the per-layer LR multipliers:

==========  =========================================  =====================  ==============================
mode        copied from ``init``                       frozen                 LR multiplier
==========  =========================================  =====================  ==============================
frozen      everything but the head                    everything but head    head 1.0
finetune    everything but the head                    nothing                copied 0.1, head 1.0
scratch     the conv trunk only                        the conv trunk         fc layers + head 1.0 (new)
==========  =========================================  =====================  ==============================

The *head* is the module(s) ``forward_head`` applies (default glob ``head.*``; a model without a ``head``
attribute names it with ``head=[...]``); the *fc layers* are the other ``nn.Linear`` / ``BatchNorm1d``
modules (Björgvinsdóttir & Seibold (2016) re-trains VGG-Face's fully connected layers from scratch in its third mode).
BatchNorm running statistics of frozen layers are kept fixed too (the trainer puts them in eval mode).
"""

from __future__ import annotations

import fnmatch
from typing import Any, Literal

from torch import nn

from ..errors import ConfigError

Mode = Literal["frozen", "finetune", "scratch"]
MODES = ("frozen", "finetune", "scratch")


def _any(name: str, globs: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, g) for g in globs)


def fc_modules(model: nn.Module, head: list[str]) -> list[str]:
    """Names of the fully connected layers (Linear, BatchNorm1d) outside the head."""
    return [n for n, m in model.named_modules() if isinstance(m, nn.Linear | nn.BatchNorm1d)
            and not _any(n + ".weight", head)]


def transfer_options(model: nn.Module, mode: Mode, head: list[str] | None = None) -> dict[str, Any]:
    """``{"freeze": [...], "lr_mult": {...}, "init_exclude": [...]}`` for ``mode`` on ``model``.

    Globs are exact parameter-name lists, so a test can check precisely what trains.
    """
    if mode not in MODES:
        raise ConfigError(f"transfer: {mode!r} is not one of {', '.join(MODES)}")
    head = head or ["head.*"]
    names = [n for n, _ in model.named_parameters()]
    head_p = [n for n in names if _any(n, head)]
    if not head_p:
        raise ConfigError(f"transfer: head globs {head} match no parameter of {type(model).__name__}")
    fc = fc_modules(model, head)
    fc_p = [n for n in names if any(n.startswith(m + ".") for m in fc)]
    body_p = [n for n in names if n not in head_p]
    if mode == "frozen":
        return {"freeze": body_p, "lr_mult": {}, "init_exclude": head_p}
    if mode == "finetune":
        return {"freeze": [], "lr_mult": {n: 0.1 for n in body_p}, "init_exclude": head_p}
    trunk_p = [n for n in body_p if n not in fc_p]
    fc_state = [k for k in model.state_dict() if any(k.startswith(m + ".") for m in fc)]  # incl. BN buffers
    return {"freeze": trunk_p, "lr_mult": {}, "init_exclude": sorted(set(head_p) | set(fc_state))}


def frozen_norms(model: nn.Module) -> list[nn.Module]:
    """BatchNorm modules whose affine parameters are all frozen: their running stats must not move either."""
    out = []
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            ps = list(m.parameters(recurse=False))
            if ps and not any(p.requires_grad for p in ps):
                out.append(m)
    return out
