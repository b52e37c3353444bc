"""KD losses: golden values, the T² gradient property, numerical safety, and per-pixel / per-anchor layouts."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from edgevision.tasks.kd import (
    binary_ce,
    hard_ce,
    hinton_loss,
    kd_bce_loss,
    logit_mse,
    probs_to_logits,
    soft_kl,
    soft_targets,
    two_class_logits,
    zero_mean,
)

LN3 = math.log(3.0)


def test_soft_kl_golden_t1():
    # p = softmax([ln 3, 0]) = [0.75, 0.25], q = [0.5, 0.5]: KL = 0.75 ln 1.5 + 0.25 ln 0.5 = 0.1308120
    s, t = torch.zeros(1, 2), torch.tensor([[LN3, 0.0]])
    assert soft_kl(s, t, 1.0).item() == pytest.approx(0.1308120, abs=1e-6)


def test_soft_kl_golden_t2_includes_t_squared():
    # T = 2: p = [√3, 1]/(√3 + 1) = [0.6339746, 0.3660254];
    # KL = 0.6339746 · ln(1.2679492) + 0.3660254 · ln(0.7320508)
    #    = 0.6339746 · 0.2374008 − 0.3660254 · 0.3119054 = 0.0363408; × T² = 0.1453631
    s, t = torch.zeros(1, 2), torch.tensor([[LN3, 0.0]])
    assert soft_kl(s, t, 2.0).item() == pytest.approx(0.1453631, abs=1e-6)
    assert soft_kl(s, t, 2.0, scale_t2=False).item() == pytest.approx(0.0363408, abs=1e-6)


def test_hinton_loss_golden():
    # CE(label 0, [0, 0]) = ln 2 = 0.6931472; (1 − α)·CE + α·KL at T = 1, α = 0.5 → 0.4119796
    s, t = torch.zeros(1, 2), torch.tensor([[LN3, 0.0]])
    assert hinton_loss(s, t, torch.tensor([0]), 1.0, 0.5).item() == pytest.approx(0.4119796, abs=1e-6)
    assert hinton_loss(s, t, None, 1.0, 0.5).item() == pytest.approx(0.1308120, abs=1e-6)  # no labels: soft only


def test_kd_bce_golden_and_single_logit():
    # α·KL + β·BCE with P_T = [0.75, 0.25], P_S = [0.5, 0.5], y = 1: 0.1308120 + ln 2 = 0.8239592
    s, t, y = torch.zeros(1, 2), torch.tensor([[LN3, 0.0]]), torch.tensor([1])
    assert kd_bce_loss(s, t, y, 1.0, 1.0, 1.0).item() == pytest.approx(0.8239592, abs=1e-6)
    # one logit z is the two-class [0, z]: teacher logit −ln 3 means P_T(person) = 0.25, as above
    s1, t1 = torch.zeros(1, 1), torch.tensor([[-LN3]])
    assert kd_bce_loss(s1, t1, y, 1.0, 1.0, 1.0).item() == pytest.approx(0.8239592, abs=1e-6)
    # BCE agrees with torch's binary_cross_entropy_with_logits for one logit
    z, lab = torch.randn(16), torch.randint(0, 2, (16,))
    ref = F.binary_cross_entropy_with_logits(z, lab.float())
    assert binary_ce(z, lab).item() == pytest.approx(ref.item(), abs=1e-6)


def test_t_squared_keeps_gradient_scale_independent_of_t():
    torch.manual_seed(0)
    z, v = torch.randn(64, 10), torch.randn(64, 10)

    def grad_norm(temperature: float, scale: bool) -> float:
        s = z.clone().requires_grad_()
        soft_kl(s, v, temperature, scale_t2=scale).backward()
        return s.grad.norm().item()

    scaled = [grad_norm(t, True) for t in (1, 2, 6, 20)]
    assert max(scaled) / min(scaled) < 1.15  # T²·KL: the soft gradient keeps its size
    # the T → ∞ limit is (ẑ − v̂)/C per sample (zero-mean logits), i.e. logit matching (Hinton 2015, §2.1)
    s = z.clone().requires_grad_()
    logit_mse(s, v).backward()
    assert grad_norm(100, True) == pytest.approx(s.grad.norm().item(), rel=0.01)
    # without T² the gradient shrinks as 1/T² at high T
    assert grad_norm(2, False) / grad_norm(20, False) == pytest.approx(100, rel=0.1)


@pytest.mark.parametrize("temperature", [1, 2, 6, 20])
@pytest.mark.parametrize("bf16", [False, True])
def test_extreme_logits_stay_finite(temperature, bf16):
    torch.manual_seed(temperature)
    dtype = torch.bfloat16 if bf16 else torch.float32
    s = (torch.randn(8, 10) * 1e4).to(dtype).requires_grad_()
    t = (torch.randn(8, 10) * 1e4).to(dtype)
    t[0] = s[0].detach()  # identical one-hot-like distributions: KL exactly 0, not NaN
    y = torch.randint(0, 10, (8,))
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        losses = [hinton_loss(s, t, y, temperature, 0.5), kd_bce_loss(s[:, :2], t[:, :2], y % 2, temperature),
                  logit_mse(s, t)]
    total = sum(losses)
    total.backward()
    assert all(torch.isfinite(x) for x in losses)
    assert torch.isfinite(s.grad).all()
    assert soft_kl(s[:1].detach(), t[:1], temperature).item() == pytest.approx(0.0, abs=1e-3)


def test_probability_teachers_with_zeros_are_finite():
    probs = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.3, 0.7]])
    s = torch.zeros(3, 2, requires_grad=True)
    loss = soft_kl(s, probs_to_logits(probs), 2.0)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(s.grad).all()
    # softmax(log p / T) ∝ p^(1/T)
    p = soft_targets(probs_to_logits(torch.tensor([[0.2, 0.8]])), 2.0)[0]
    ref = torch.tensor([0.2, 0.8]).sqrt()
    assert torch.allclose(p, ref / ref.sum(), atol=1e-6)


def test_per_pixel_and_per_anchor_equal_flattened_classification():
    torch.manual_seed(0)
    s, t = torch.randn(2, 5, 3, 4), torch.randn(2, 5, 3, 4)  # (N, C, H, W): segmentation logits
    y = torch.randint(0, 5, (2, 3, 4))
    flat = lambda x: x.permute(0, 2, 3, 1).reshape(-1, 5)  # noqa: E731
    assert soft_kl(s, t, 3.0).item() == pytest.approx(soft_kl(flat(s), flat(t), 3.0).item(), rel=1e-6)
    assert hinton_loss(s, t, y, 3.0, 0.7).item() == pytest.approx(
        hinton_loss(flat(s), flat(t), y.reshape(-1), 3.0, 0.7).item(), rel=1e-6)
    anchors_s, anchors_t = torch.randn(2, 4, 7), torch.randn(2, 4, 7)  # (N, C, A): detection class logits
    f2 = lambda x: x.permute(0, 2, 1).reshape(-1, 4)  # noqa: E731
    assert soft_kl(anchors_s, anchors_t, 2.0).item() == pytest.approx(soft_kl(f2(anchors_s), f2(anchors_t), 2.0).item(),
                                                                      rel=1e-6)


def test_position_weights_and_ignore_index():
    torch.manual_seed(1)
    s, t = torch.randn(1, 3, 2, 2), torch.randn(1, 3, 2, 2)
    w = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    keep = s[..., [0, 1], [0, 1]], t[..., [0, 1], [0, 1]]  # the two weighted pixels, (1, 3, 2)
    assert soft_kl(s, t, 2.0, weight=w).item() == pytest.approx(soft_kl(*keep, 2.0).item(), rel=1e-6)
    y = torch.tensor([[[0, -100], [-100, 2]]])
    ref = F.cross_entropy(s, y, ignore_index=-100)
    assert hard_ce(s, y).item() == pytest.approx(ref.item(), rel=1e-6)


def test_zero_mean_is_shift_invariant_for_kl_but_not_mse_input():
    torch.manual_seed(2)
    s, t = torch.randn(4, 6), torch.randn(4, 6)
    shifted = t + torch.randn(4, 1) * 50
    assert soft_kl(s, shifted, 4.0).item() == pytest.approx(soft_kl(s, t, 4.0).item(), rel=1e-5)
    assert zero_mean(shifted).mean(1).abs().max() < 1e-4
    assert logit_mse(s, shifted).item() == pytest.approx(logit_mse(s, t).item(), rel=1e-5)
    assert logit_mse(s, t).item() > 0


def test_shape_errors():
    with pytest.raises(ValueError, match="differ"):
        soft_kl(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="1 or 2 outputs"):
        two_class_logits(torch.zeros(2, 3))
