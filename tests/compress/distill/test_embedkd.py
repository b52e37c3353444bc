"""Golden values of the embedding distillation losses (hand-computed) and their invariances."""

import math

import pytest
import torch

from edgevision.tasks.embedkd import embedding_loss, pairwise_distances, relational_loss


def test_embedding_loss_golden_values():
    s = torch.tensor([[2.0, 0.0], [0.0, 3.0]])  # normalized: (1, 0), (0, 1)
    t = torch.tensor([[5.0, 0.0], [1.0, 1.0]])  # normalized: (1, 0), (1/√2, 1/√2)
    cos = (0 + (1 - 1 / math.sqrt(2))) / 2
    assert embedding_loss(s, t, "cos").item() == pytest.approx(cos, abs=1e-6)
    assert embedding_loss(s, t, "mse").item() == pytest.approx(2 * cos, abs=1e-6)  # ‖a − b‖² = 2 − 2 a·b
    with pytest.raises(ValueError, match="project first"):
        embedding_loss(s, torch.ones(2, 3))


def test_relational_loss_golden_value():
    s = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])  # distances √2, 2, √2
    t = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])  # distances √2, √2, 2
    mu = (2 * math.sqrt(2) + 2) / 3  # the same mean distance in both
    x = (2 - math.sqrt(2)) / mu  # two of three pairs differ by ±x after normalization
    golden = (2 * 0.5 * x * x) / 3  # Huber (δ = 1, |x| < 1) averaged over the pairs
    assert relational_loss(s, t).item() == pytest.approx(golden, abs=1e-6)


def test_relational_loss_ignores_scale_rotation_and_teacher_size():
    torch.manual_seed(0)
    s = torch.randn(8, 4)
    q, _ = torch.linalg.qr(torch.randn(6, 6))
    t = torch.cat([s, torch.zeros(8, 2)], 1) @ q * 7.0  # a rotated, scaled copy in a 6-d space
    assert relational_loss(s, t).item() == pytest.approx(0.0, abs=1e-6)
    assert relational_loss(s, torch.randn(8, 6)).item() > 0.01


def test_relational_loss_gradient_is_finite_with_duplicates():
    s = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    relational_loss(s, torch.randn(3, 5)).backward()
    assert torch.isfinite(s.grad).all()
    assert pairwise_distances(s.detach()).diagonal().abs().max().item() == 0.0
    assert relational_loss(s[:1], torch.randn(1, 5)).item() == 0.0
