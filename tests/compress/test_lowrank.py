"""Low-rank factorization: exact at full rank, cheaper at lower rank, recorded as surgery, and the stage."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from edgevision.compress.lowrank import choose_rank, dwsep_conv, factorize, separable_conv, svd_linear
from edgevision.models import build_from_spec, build_model, get_arch
from edgevision.models.complexity import count_macs


def test_svd_linear_is_exact_at_full_rank_and_low_rank_is_best():
    torch.manual_seed(0)
    m = nn.Linear(20, 12)
    x = torch.randn(5, 20)
    torch.testing.assert_close(svd_linear(m, 12)(x), m(x), atol=1e-5, rtol=1e-5)
    w = m.weight.detach()
    approx = svd_linear(m, 4)
    w4 = (approx[1].weight @ approx[0].weight).detach()
    s = torch.linalg.svdvals(w)
    assert torch.linalg.norm(w - w4) == pytest.approx(float(s[4:].square().sum().sqrt()), rel=1e-4)  # Eckart–Young


@pytest.mark.parametrize("stride,padding,dilation", [(1, 1, 1), (2, 1, 1), (1, 2, 2), ((2, 1), (1, 0), 1)])
def test_separable_conv_is_exact_at_full_rank(stride, padding, dilation):
    torch.manual_seed(0)
    m = nn.Conv2d(4, 6, 3, stride=stride, padding=padding, dilation=dilation)
    x = torch.randn(2, 4, 11, 13)
    full = separable_conv(m, 4 * 3)  # rank of the (ci·kh) × (co·kw) matrix is at most 12
    torch.testing.assert_close(full(x), m(x), atol=1e-4, rtol=1e-4)
    assert isinstance(full[0], nn.Conv2d) and full[0].kernel_size == (3, 1) and full[1].kernel_size == (1, 3)


def test_dwsep_is_exact_for_per_channel_rank_one_kernels():
    torch.manual_seed(0)
    m = nn.Conv2d(3, 5, 3, stride=2, padding=1)
    with torch.no_grad():  # W[o, i] = p[o, i] · d[i]: exactly depthwise-then-pointwise
        m.weight.copy_(torch.randn(5, 3, 1, 1) * torch.randn(1, 3, 3, 3))
    x = torch.randn(2, 3, 9, 9)
    dw = dwsep_conv(m)
    assert dw[0].groups == 3 and dw[1].kernel_size == (1, 1)
    torch.testing.assert_close(dw(x), m(x), atol=1e-4, rtol=1e-4)


def test_choose_rank():
    s = torch.tensor([4.0, 2.0, 1.0, 1.0])  # energies 16, 4, 1, 1 of 22
    assert choose_rank(s, energy=0.7) == 1 and choose_rank(s, energy=0.9) == 2 and choose_rank(s, energy=1.0) == 4
    assert choose_rank(s, rank=9) == 4 and choose_rank(s, rank_ratio=0.5) == 2


@pytest.mark.parametrize("method,name,shape", [("svd", "lenet300_100", (1, 28, 28)),
                                                ("separable", "student_cnn", (3, 24, 24)),
                                                ("dwsep", "resnet8", (3, 24, 24))])
def test_factorize_records_surgery_and_saves_macs(method, name, shape):
    model = build_model(name, num_classes=5).eval()
    new, rows = factorize(model, shape, method, energy=0.5, min_saving=0.05)
    assert rows and count_macs(new, shape) < count_macs(model, shape)
    rebuilt = build_from_spec(get_arch(new))
    rebuilt.load_state_dict(new.state_dict())
    x = torch.randn(2, *shape)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt.eval()(x), new.eval()(x))


def test_lowrank_stage(trained, tmp_path):
    import edgevision as ev

    res = ev.lowrank(trained, method="separable", energy=0.6, epochs=0, out=tmp_path / "lr")
    assert res.card["lowrank"]["macs_after"] < res.card["lowrank"]["macs_before"]
    art = ev.load_artifact(res.artifact)
    assert any(s["type"] == "Sequential" for s in art.arch.surgery.values())
