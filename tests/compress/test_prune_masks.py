"""Masks hold through optimizer steps: gradients, momentum / Adam state and weight decay cannot revive a weight."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from edgevision.compress.unstructured.masks import MaskCallback


class _Trainer:  # the two attributes MaskCallback uses
    def __init__(self, opt: torch.optim.Optimizer) -> None:
        self.opt = opt


def _setup(opt_name: str):
    torch.manual_seed(0)
    layer = nn.Linear(16, 8)
    mask = torch.rand(8, 16) > 0.5
    opts = {"sgd": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01),
            "nesterov": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
            "adam": lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=0.01),
            "adamw": lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1)}
    opt = opts[opt_name](layer.parameters())
    return layer, mask, opt


def _steps(layer: nn.Linear, opt, cb: MaskCallback | None, n: int = 3) -> None:
    x, y = torch.randn(32, 16), torch.randn(32, 8)
    for _ in range(n):
        opt.zero_grad()
        nn.functional.mse_loss(layer(x), y).backward()
        if cb:
            cb.on_before_step(_Trainer(opt))
        opt.step()
        if cb:
            cb.on_step_end(_Trainer(opt))


@pytest.mark.parametrize("opt_name", ["sgd", "nesterov", "adam", "adamw"])
def test_pruned_weights_stay_exactly_zero(opt_name: str) -> None:
    layer, mask, opt = _setup(opt_name)
    # warm the optimizer state first, so momentum / moments are nonzero at the positions we then prune
    _steps(layer, opt, None, 2)
    cb = MaskCallback({"weight": layer.weight})
    cb.set_masks({"weight": mask}, opt)
    _steps(layer, opt, cb, 3)
    w = layer.weight.detach()
    assert torch.all(w.view(torch.int32)[~mask] == 0)  # +0.0 bit patterns, not just == 0
    assert torch.all(w[mask] != 0)
    for state in opt.state[layer.weight].values():
        if torch.is_tensor(state) and state.shape == w.shape:
            assert torch.all(state[~mask] == 0)


def test_without_the_callback_zeros_come_back() -> None:
    """The control: momentum and weight decay do revive masked weights if nothing stops them."""
    layer, mask, opt = _setup("sgd")
    _steps(layer, opt, None, 2)
    with torch.no_grad():
        layer.weight.masked_fill_(~mask, 0.0)
    _steps(layer, opt, None, 3)
    assert (layer.weight.detach()[~mask] != 0).float().mean() > 0.9


def test_mask_state_roundtrips_through_a_checkpoint() -> None:
    layer, mask, _ = _setup("sgd")
    cb = MaskCallback({"weight": layer.weight})
    cb.set_masks({"weight": mask})
    fresh = MaskCallback({"weight": layer.weight})
    fresh.load_state_dict(cb.state_dict())
    assert torch.equal(fresh.masks["weight"], mask)
