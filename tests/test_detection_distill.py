"""The detection distillation loss (soft class, soft confidence, box targets) between SqueezeDet outputs."""

import math

import pytest
import torch

from edgevision.errors import ConfigError
from edgevision.models import build_model
from edgevision.tasks.detection_distill import DetectionDistillWeights, detection_distill_loss

pytestmark = pytest.mark.usefixtures("one_thread")


def test_zero_when_the_student_equals_the_teacher_except_conf_entropy():
    t = torch.randn(2, 3 * (5 + 4), 4, 5)
    out = detection_distill_loss(t.clone(), t, 3)
    assert float(out["distill_class"]) == pytest.approx(0, abs=1e-6)
    assert float(out["distill_box"]) == pytest.approx(0, abs=1e-6)
    p = torch.sigmoid(t.view(2, 3, 9, 4, 5)[:, :, 4])
    entropy = float(-(p * p.log() + (1 - p) * (1 - p).log()).mean())  # BCE at equality = the teacher's entropy
    assert float(out["distill_conf"]) == pytest.approx(entropy, rel=1e-5)


def test_hand_case_one_anchor():
    # one anchor, one cell, two classes; teacher objectness σ(0) = 0.5
    t = torch.tensor([0.0, 0, 0, 0, 0, 2.0, 0.0]).view(1, 7, 1, 1)
    s = torch.tensor([0.1, 0, 0, 0, 1.0, 0.0, 0.0]).view(1, 7, 1, 1)
    w = DetectionDistillWeights(temperature=2.0, box_beta=1.0)
    out = detection_distill_loss(s, t, 1, w)
    pt = torch.softmax(torch.tensor([1.0, 0.0]), 0)  # teacher logits / T
    kl = float((pt * (pt.log() - torch.log(torch.tensor([0.5, 0.5])))).sum())
    assert float(out["distill_class"]) == pytest.approx(4 * kl, rel=1e-5)  # T² · KL, weight cancels
    bce = -(0.5 * math.log(1 / (1 + math.exp(-1))) + 0.5 * math.log(1 - 1 / (1 + math.exp(-1))))
    assert float(out["distill_conf"]) == pytest.approx(bce, rel=1e-5)
    assert float(out["distill_box"]) == pytest.approx(0.5 * 0.1**2, rel=1e-5)  # smooth-L1 (β = 1) of δx = 0.1


def test_student_learns_from_teacher_and_is_finite_in_bf16():
    torch.manual_seed(0)
    teacher = build_model("squeezedet", num_classes=3, num_anchors=2).eval()
    student = build_model("squeezedet_small", num_classes=3, num_anchors=2, dropout=0.0)
    x = torch.randn(4, 3, 48, 48)
    with torch.no_grad():
        t_out = teacher(x)
    opt = torch.optim.Adam(student.parameters(), 1e-3)
    first = None
    for _ in range(8):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = detection_distill_loss(student(x), t_out, 2)["loss"]
        assert torch.isfinite(loss)
        first = first if first is not None else float(loss.detach())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.6 * first
    with pytest.raises(ConfigError, match="same grid"):
        detection_distill_loss(student(torch.randn(1, 3, 96, 96)), t_out[:1], 2)
