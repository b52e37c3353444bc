"""Structured pruning recognises normalization layers by behaviour: fused norm + activation, frozen norms."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from edgevision.compress.structured.depgraph import build_graph
from edgevision.compress.structured.layers import norm_channels
from edgevision.compress.structured.shrink import shrink_model
from edgevision.models import build_from_spec
from edgevision.models.base import ArchSpec, set_arch
from edgevision.models.complexity import count_macs
from edgevision.models.refs import remember


class BatchNormAct2d(nn.BatchNorm2d):
    """A look-alike of timm's fused layer: BatchNorm, then its own activation, in one module."""

    def __init__(self, num_features: int, act: bool = True):
        super().__init__(num_features)
        self.drop = nn.Identity()
        self.act = nn.ReLU() if act else nn.Identity()

    def forward(self, x):
        x = F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, self.training,
                         self.momentum, self.eps)
        return self.act(self.drop(x))


class FrozenNorm(nn.Module):
    """Not a BatchNorm subclass: fixed statistics and affine as buffers, the formula written out."""

    def __init__(self, c: int):
        super().__init__()
        for name, init in (("weight", torch.ones), ("bias", torch.zeros), ("running_mean", torch.zeros),
                           ("running_var", torch.ones)):
            self.register_buffer(name, init(c))

    def forward(self, x):
        scale = self.weight * (self.running_var + 1e-5).rsqrt()
        return x * scale[None, :, None, None] + (self.bias - self.running_mean * scale)[None, :, None, None]


class ChannelMixer(nn.Module):
    """Has running statistics but mixes channels: must stay opaque."""

    def __init__(self, c: int):
        super().__init__()
        self.register_buffer("running_mean", torch.zeros(c))
        self.register_buffer("running_var", torch.ones(c))

    def forward(self, x):
        return x + x.mean(1, keepdim=True)


class Net(nn.Module):
    def __init__(self, width: int = 32):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, padding=1, bias=False)
        self.bn1 = BatchNormAct2d(width)
        self.dw = nn.Conv2d(width, width, 3, padding=1, groups=width, bias=False)
        self.bn2 = FrozenNorm(width)
        self.pw = nn.Conv2d(width, 2 * width, 1, bias=False)
        self.bn3 = BatchNormAct2d(2 * width)
        self.fc = nn.Linear(2 * width, 5)

    def forward(self, x):
        x = self.bn1(self.stem(x))
        x = x + self.bn2(self.dw(x))
        return self.fc(self.bn3(self.pw(x)).mean((2, 3)))


def _net() -> Net:
    torch.manual_seed(0)
    net = Net()
    with torch.no_grad():
        for m in net.modules():
            if hasattr(m, "running_var"):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
    remember(f"{__name__}:Net", Net)
    set_arch(net, ArchSpec(f"{__name__}:Net", {"width": 32}))
    return net.eval()


def test_norms_are_recognised_by_behaviour():
    assert norm_channels(BatchNormAct2d(8)) == 8 and norm_channels(FrozenNorm(6)) == 6
    assert norm_channels(nn.BatchNorm2d(4)) == 4  # the plain one behaves as one too
    assert norm_channels(ChannelMixer(8)) is None and norm_channels(nn.Conv2d(3, 3, 1)) is None
    assert norm_channels(nn.GroupNorm(2, 8)) is None  # no running statistics


def test_fused_and_frozen_norms_do_not_pin_their_channels():
    net = _net()
    graph = build_graph(net, (3, 16, 16))
    assert {"bn1", "bn2", "bn3"} <= set(graph.layouts)
    shape = (3, 16, 16)
    small, _ = shrink_model(net, shape, macs=0.5)
    removed = 1 - count_macs(small, shape) / count_macs(net, shape)
    assert removed >= 0.45, removed
    assert small.bn1.num_features == small.stem.out_channels < 32 and isinstance(small.bn1, BatchNormAct2d)
    assert small.bn2.running_mean.numel() == small.dw.out_channels


def test_a_shrunk_model_with_foreign_norms_rebuilds_from_its_spec():
    small, _ = shrink_model(_net(), (3, 16, 16), ratio=0.5)
    again = build_from_spec(small._edgevision_arch)
    again.load_state_dict(small.state_dict())
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(again.eval()(x), small.eval()(x), atol=1e-6)
