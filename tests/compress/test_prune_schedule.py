"""Pruning schedules: one-shot, iterative (equal fraction of survivors per round) and AGP (cubic, Zhu & Gupta)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from edgevision.compress.unstructured.schedule import Plan, PruneSchedule, sparsity_at


def test_agp_is_cubic() -> None:
    s_f, s_i = 0.9, 0.1
    for p in (0.0, 0.25, 0.5, 1.0):
        assert sparsity_at("agp", p, s_f, s_i) == pytest.approx(s_f + (s_i - s_f) * (1 - p) ** 3)
    assert sparsity_at("agp", 0.5, 0.9) == pytest.approx(0.9 * (1 - 0.125))  # fast first, slow at the end


def test_iterative_removes_the_same_fraction_of_survivors_each_round() -> None:
    k, s_f = 4, 0.9375  # density 1/16: halve the survivors each round
    dens = [1 - sparsity_at("iterative", (r + 1) / k, s_f) for r in range(k)]
    assert dens == pytest.approx([0.5, 0.25, 0.125, 0.0625])


def test_plan_events() -> None:
    assert Plan("oneshot", 100).events() == {0: 1.0}
    assert Plan("iterative", 90, rounds=3).events() == pytest.approx({0: 1 / 3, 30: 2 / 3, 60: 1.0})
    ev = Plan("agp", 100, agp_start=10, agp_end=50, agp_every=10).events()
    assert ev == pytest.approx({10: 0.0, 20: 0.25, 30: 0.5, 40: 0.75, 50: 1.0})


class _State:
    epoch = 0


class _Cfg:
    max_steps_per_epoch = None


class _FakeTrainer:
    """Just enough of a Trainer for the callback: steps per epoch, position, optimizer."""

    def __init__(self, params, steps: int) -> None:
        self.train_loader = range(steps)
        self.cfg, self.state, self.step_in_epoch = _Cfg(), _State(), 0
        self.opt = torch.optim.SGD(params, lr=0.01, momentum=0.9, weight_decay=1e-3)


@pytest.mark.parametrize("kind", ["agp", "iterative"])
def test_schedule_reaches_the_target_and_never_revives(kind: str) -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(20, 30), nn.ReLU(), nn.Linear(30, 5))
    params = {"0": net[0].weight, "2": net[2].weight}
    steps, epochs = 10, 4
    plan = Plan(kind, steps * epochs, rounds=4, agp_start=0, agp_end=30, agp_every=5)
    cb = PruneSchedule(params, "layerwise", {"0": 0.8, "2": 0.5}, plan)
    tr = _FakeTrainer(net.parameters(), steps)
    cb.on_fit_start(tr)
    x, y = torch.randn(64, 20), torch.randint(0, 5, (64,))
    prev = {n: p.detach() != 0 for n, p in params.items()}
    for epoch in range(epochs):
        tr.state.epoch = epoch
        for step in range(steps):
            tr.step_in_epoch = step
            tr.opt.zero_grad()
            nn.functional.cross_entropy(net(x), y).backward()
            cb.on_before_step(tr)
            tr.opt.step()
            cb.on_step_end(tr)
            now = {n: p.detach() != 0 for n, p in params.items()}
            assert all(not (now[n] & ~prev[n]).any() for n in params)  # a pruned weight never comes back
            prev = now
    assert float((params["0"] == 0).float().mean()) == pytest.approx(0.8, abs=1e-3)
    assert float((params["2"] == 0).float().mean()) == pytest.approx(0.5, abs=1e-2)
    sp = [e["sparsity"] for e in cb.trace]
    assert sp == sorted(sp) and len(sp) >= 4
