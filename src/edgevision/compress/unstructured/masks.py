"""Pruning masks that hold during training: pruned weights stay exactly +0.0.

A zero weight can come back three ways: its gradient, the optimizer's memory (SGD momentum, Adam's moments),
and weight decay (``g += λ·w`` is 0 for w = 0, but decoupled AdamW decay and momentum carry-over are not).
:class:`MaskCallback` closes all three: it zeroes the gradient at pruned positions after ``backward()``
(``on_before_step``), then after ``optimizer.step()`` re-zeroes the weights and every optimizer state tensor
shaped like the weight (``on_step_end``). ``masked_fill`` writes +0.0, never −0.0, so the ``.evz`` sees true
zeros.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ...train.callbacks import Callback

if TYPE_CHECKING:
    from ...train.trainer import Trainer


class MaskCallback(Callback):
    """Keeps ``params[name]`` zero wherever ``masks[name]`` (a bool keep-mask) is False."""

    def __init__(self, params: dict[str, nn.Parameter], masks: dict[str, torch.Tensor] | None = None) -> None:
        self.params = params
        self.masks: dict[str, torch.Tensor] = dict(masks or {})

    def set_masks(self, masks: dict[str, torch.Tensor], optimizer: torch.optim.Optimizer | None = None) -> None:
        """Install new keep-masks and apply them at once (to weights and, if given, optimizer state)."""
        self.masks = {n: m.to(torch.bool) for n, m in masks.items()}
        self.apply(optimizer)

    @torch.no_grad()
    def apply(self, optimizer: torch.optim.Optimizer | None = None) -> None:
        for name, keep in self.masks.items():
            p = self.params[name]
            p.masked_fill_(~keep, 0.0)
            if optimizer is not None:
                for state in optimizer.state.get(p, {}).values():
                    if torch.is_tensor(state) and state.shape == p.shape:
                        state.masked_fill_(~keep, 0.0)

    @torch.no_grad()
    def mask_grads(self) -> None:
        for name, keep in self.masks.items():
            g = self.params[name].grad
            if g is not None:
                g.masked_fill_(~keep, 0.0)

    def on_before_step(self, trainer: Trainer) -> None:
        self.mask_grads()

    def on_step_end(self, trainer: Trainer) -> None:
        self.apply(trainer.opt)

    def state_dict(self) -> dict[str, Any]:
        return {"masks": {n: m.clone() for n, m in self.masks.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.masks = {n: m.to(torch.bool) for n, m in (state.get("masks") or {}).items()}


def current_masks(params: dict[str, nn.Parameter]) -> dict[str, torch.Tensor]:
    """Keep-masks of the weights that are nonzero now (what a pruned ``model.pt`` implies)."""
    return {n: p.detach() != 0 for n, p in params.items()}
