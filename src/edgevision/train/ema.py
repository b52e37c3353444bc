"""An exponential moving average of the weights, validated and kept in place of the raw weights.

Polyak & Juditsky (1992) averaging in its exponential form, with the warm-up of YOLOv5/ultralytics: after the
t-th optimizer step,

    θ̄ ← d_t · θ̄ + (1 − d_t) · θ,     d_t = d · (1 − exp(−t / τ))

so the average follows the raw weights closely at first (d_t ≈ 0) and smooths over about 1 / (1 − d) steps once
t ≫ τ. Buffers that are not floating point (BatchNorm's step counter) are copied. A weight that is exactly 0 in
the raw model (a pruned one, kept at 0 by its mask) is 0 in the average too, so masks survive the averaging.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import nn


class WeightEMA:
    """The averaged copy ``module`` of a model; :meth:`update` after each optimizer step."""

    def __init__(self, model: nn.Module, decay: float, tau: float) -> None:
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.decay, self.tau, self.updates = float(decay), float(tau), 0

    def factor(self) -> float:
        """d_t for the current update count."""
        return self.decay * (1.0 - math.exp(-self.updates / self.tau))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = self.factor()
        raw, own = model.state_dict(), self.module.state_dict()
        keys = [k for k, v in own.items() if v.dtype.is_floating_point]
        avg, src = [own[k] for k in keys], [raw[k].detach() for k in keys]
        torch._foreach_lerp_(avg, src, 1.0 - d)  # θ̄ + (1 − d)(θ − θ̄) = d θ̄ + (1 − d) θ
        torch._foreach_mul_(avg, [(s != 0).to(s.dtype) for s in src])  # a pruned (exactly 0) weight stays 0
        for k, v in own.items():
            if not v.dtype.is_floating_point:
                v.copy_(raw[k])

    def state_dict(self) -> dict[str, Any]:
        return {"module": self.module.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["module"])
        self.updates = int(state["updates"])
