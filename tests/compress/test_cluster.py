"""Centroid fine-tuning: ∂L/∂c_j = Σ_i ∂L/∂w_i·1[I_i = j], tied weights, zeros that stay zero."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from edgevision.compress.sharing.cluster import CentroidCallback, cluster_weight


class _Trainer:
    def __init__(self, opt) -> None:
        self.opt = opt


def test_centroid_gradient_matches_a_hand_computed_case() -> None:
    # weights 1, 1, 2, 0 (pruned), 2 in clusters 0, 0, 1, –, 1; dL/dw = .1 .2 .3 .4 .5
    w = nn.Parameter(torch.tensor([[1.0, 1.0, 2.0, 0.0, 2.0]]))
    labels = torch.tensor([[0, 0, 1, -1, 1]])
    cb = CentroidCallback({"w": w}, {"w": labels}, {"w": 2})
    w.grad = torch.tensor([[0.1, 0.2, 0.3, 0.4, 0.5]])
    assert torch.allclose(cb.centroid_grads()["w"], torch.tensor([0.3, 0.8]))  # 0.1+0.2, 0.3+0.5
    cb.on_before_step()
    assert torch.allclose(w.grad, torch.tensor([[0.3, 0.3, 0.8, 0.0, 0.8]]))
    opt = torch.optim.SGD([w], lr=1.0)
    opt.step()
    cb.on_step_end(_Trainer(opt))
    # c_j ← c_j − lr·∂L/∂c_j: 1 − 0.3 = 0.7, 2 − 0.8 = 1.2; the pruned weight stays 0
    assert torch.allclose(w.detach(), torch.tensor([[0.7, 0.7, 1.2, 0.0, 1.2]]))


@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
def test_three_steps_keep_weights_shared_and_zeros_zero(opt_name: str) -> None:
    torch.manual_seed(0)
    layer = nn.Linear(32, 16)
    with torch.no_grad():
        layer.weight.mul_(torch.rand(16, 32) > 0.5)
        shared, labels, k = cluster_weight(layer.weight, 3, "linear", False)
        layer.weight.copy_(shared)
    before = layer.weight.detach().clone()
    cb = CentroidCallback({"weight": layer.weight}, {"weight": labels}, {"weight": k})
    opt = (torch.optim.SGD(layer.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3) if opt_name == "sgd"
           else torch.optim.Adam(layer.parameters(), lr=0.01))
    x, y = torch.randn(64, 32), torch.randn(64, 16)
    for _ in range(3):
        opt.zero_grad()
        nn.functional.mse_loss(layer(x), y).backward()
        cb.on_before_step(_Trainer(opt))
        opt.step()
        cb.on_step_end(_Trainer(opt))
    w = layer.weight.detach()
    assert torch.all(w.view(torch.int32)[labels < 0] == 0)
    assert len(w[labels >= 0].unique()) <= 8
    for j in range(k):  # every member of a cluster holds the same value
        members = w[labels == j]
        assert members.numel() == 0 or torch.all(members == members[0])
    assert not torch.equal(w, before)  # the centroids did move


def test_fp16_codebook_rounds_at_the_end() -> None:
    w = nn.Parameter(torch.tensor([[0.1, 0.1, 0.3]]))
    cb = CentroidCallback({"w": w}, {"w": torch.tensor([[0, 0, 1]])}, {"w": 2}, codebook_dtype="fp16")
    cb.on_fit_end()
    assert torch.equal(w.detach(), torch.tensor([[0.1, 0.1, 0.3]]).half().float())
