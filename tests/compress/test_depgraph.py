"""The dependency graph: coupled channels are found generically and pruning them is exact."""

from __future__ import annotations

import pytest
import torch
from nets import Coupled
from torch import nn

from edgevision.compress.structured.depgraph import build_graph
from edgevision.compress.structured.layers import channel_tensors
from edgevision.compress.structured.shrink import apply_plan


def group_of(graph, member):
    found = [g for g in graph.groups if member in g.signature]
    assert len(found) == 1, f"{member} is in {len(found)} groups"
    return found[0]


def test_residual_add_couples_stem_and_block_output():
    g = build_graph(Coupled(), (3, 16, 16))
    stem = group_of(g, ("stem.0", "out"))
    assert ("res2", "out") in stem.signature and ("res_bn2", "ch") in stem.signature
    assert ("branch_a", "in") in stem.signature and ("branch_b", "in") in stem.signature
    assert len(stem) == 16
    inner = group_of(g, ("res1", "out"))
    assert ("res2", "in") in inner.signature and ("stem.0", "out") not in inner.signature


def test_concat_maps_each_branch_to_its_slice_of_the_consumer():
    g = build_graph(Coupled(), (3, 16, 16))
    a, b = group_of(g, ("branch_a", "out")), group_of(g, ("branch_b", "out"))
    assert a is not b
    assert sorted(i for u in a.units for i in u.members[("post", "in")]) == list(range(8))
    assert sorted(i for u in b.units for i in u.members[("post", "in")]) == list(range(8, 16))


def test_depthwise_se_transposed_and_flatten_couplings():
    g = build_graph(Coupled(), (3, 16, 16))
    post = group_of(g, ("post", "out"))
    # post → dw (multiplier 2) → prelu, SE gate, skip add with the transposed conv, linear after flatten
    for member in [("dw", "ch"), ("prelu", "ch"), ("se_fc1", "in"), ("se_fc2", "out"), ("up", "out"), ("down", "in"),
                   ("fc", "in")]:
        assert member in post.signature, member
    assert post.per_unit[("fc", "in")] == 2 * 16  # two dw outputs per channel, each 4×4 pixels after pooling
    assert post.per_unit[("prelu", "ch")] == 2  # one PReLU slope per dw output: two per input channel
    assert len(post) == 12


def test_model_outputs_and_inputs_are_pinned():
    g = build_graph(Coupled(classes=5), (3, 16, 16))
    assert all(("head", "out") not in grp.signature for grp in g.groups)
    assert all(("stem.0", "in") not in grp.signature for grp in g.groups)


def test_unknown_ops_pin_channels():
    class Shuffle(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Conv2d(3, 8, 1)
            self.b = nn.Conv2d(8, 4, 1)

        def forward(self, x):
            y = self.a(x)
            y = y.view(y.shape[0], 2, 4, *y.shape[2:]).transpose(1, 2).reshape(y.shape)  # channel shuffle
            return self.b(y)

    g = build_graph(Shuffle(), (3, 8, 8))
    assert not g.groups  # the shuffle's channel permutation is not understood, so nothing is pruned


def zero_units(model, graph, plan):
    """Zero every weight owned by the planned units' producers, so the channels carry exact zeros."""
    modules = dict(model.named_modules())
    with torch.no_grad():
        for grp in graph.groups:
            for pos in plan.get(grp.name, []):
                for (path, role), idx in grp.units[pos].members.items():
                    if role == "in":
                        continue
                    for t, dim, span in channel_tensors(modules[path], graph.layouts[path], role):
                        for i in idx:
                            t.narrow(dim, i * span, span).zero_()


def test_pruning_equals_zeroing_on_the_coupled_model():
    torch.manual_seed(0)
    model = Coupled().eval()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):  # non-trivial statistics
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    graph = build_graph(model, (3, 16, 16))
    plan = {g.name: list(range(0, len(g), 3)) for g in graph.groups}
    zero_units(model, graph, plan)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        want = model(x)
        apply_plan(graph, plan)
        got = model(x)
    assert model.post.in_channels < 16 and model.dw.groups < 12 and model.fc.in_features < 24 * 16
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("bad", [1.0, 0.0])
def test_groups_never_fully_removed(bad):
    from edgevision.compress.structured.shrink import keep_count

    assert keep_count(16, 16 * (1 - bad), 1) >= 1
    assert keep_count(16, 0, 8) == 8
    assert keep_count(20, 10, 8) == 8 and keep_count(20, 19.9, 8) == 20
    assert keep_count(20, 15, 8) == 16 and keep_count(6, 1, 8) == 6


class _GroupedSplit(nn.Module):
    """A grouped (not depthwise) conv and a channel split: both unknown to the graph, so both pin."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Conv2d(3, 16, 3, padding=1), nn.Conv2d(16, 8, 1)
        self.g = nn.Conv2d(16, 16, 3, padding=1, groups=4)
        self.fc = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = torch.split(self.g(torch.relu(self.a(x))), 8, 1)
        return self.fc(self.b(torch.cat([x2, x1], 1)).mean((2, 3)))


def test_an_unreachable_target_names_the_ops_that_pin_channels():
    from edgevision.compress.structured.shrink import shrink_model
    from edgevision.errors import EdgevisionError

    graph = build_graph(_GroupedSplit(), (3, 16, 16))
    assert graph.pinned_by == {"Conv2d (groups=4)": 1, "split": 1}
    with pytest.raises(EdgevisionError, match=r"does not know: Conv2d \(groups=4\) ×1, split ×1\)"):
        shrink_model(_GroupedSplit(), (3, 16, 16), macs=0.5)
