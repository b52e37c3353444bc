"""Per-pixel distillation CE + λ·T²·KL (Demborg (2018) eq. 3.4): the expectations the machinery must meet.

``MACHINERY`` is the distillation machinery's KD loss (logits (N, C, ...) with the class dimension at 1, an
optional (N, ...) valid mask as ``weight`` → scalar), checked against a slow per-pixel reference.
"""

import importlib
import math

import pytest
import torch

from edgevision.tasks import build_task

MACHINERY = ("edgevision.tasks.kd", "soft_kl")  # (module, function)


def reference(student, teacher, t, valid=None):
    """Pixel by pixel: T² · mean over valid pixels of Σ_c p_t,c (log p_t,c − log p_s,c), p = softmax(z / T)."""
    n, _, h, w = student.shape
    total, count = 0.0, 0
    for i in range(n):
        for y in range(h):
            for x in range(w):
                if valid is not None and not valid[i, y, x]:
                    continue
                ps = torch.softmax(student[i, :, y, x].double() / t, 0)
                pt = torch.softmax(teacher[i, :, y, x].double() / t, 0)
                total += float((pt * (pt.log() - ps.log())).sum())
                count += 1
    return t * t * total / count


def _check(kd):
    torch.manual_seed(0)
    s, t = torch.randn(2, 3, 4, 5), torch.randn(2, 3, 4, 5)
    for temp in (1.0, 4.0):
        assert kd(s, t, temp) == pytest.approx(reference(s, t, temp), rel=1e-5)
    valid = torch.rand(2, 4, 5) > 0.3
    assert kd(s, t, 2.0, valid) == pytest.approx(reference(s, t, 2.0, valid), rel=1e-5)
    assert kd(s, s.clone(), 3.0) == pytest.approx(0.0, abs=1e-6)  # identical distributions
    # (N, C) classification logits are the 1×1 case
    assert kd(s[:, :, 0, 0], t[:, :, 0, 0], 2.0) == pytest.approx(reference(s[:, :, :1, :1], t[:, :, :1, :1], 2.0),
                                                                   rel=1e-5)
    # gradients reach the student only, and scale ~1/T² inside the KL so T² keeps them comparable (Hinton 2015)
    sg = s.clone().requires_grad_(True)
    kd(sg, t, 4.0).backward()
    assert torch.isfinite(sg.grad).all() and sg.grad.abs().sum() > 0
    assert not math.isnan(float(kd(s, t, 20.0)))


def _machinery():
    mod_name, fn_name = MACHINERY
    fn = getattr(importlib.import_module(mod_name), fn_name)
    return lambda s, t, temp, valid=None: fn(s, t, temp, weight=valid)


def test_distill_machinery_meets_the_expectations():
    _check(_machinery())


def test_segmentation_view_drops_ignored_pixels_and_matches_sizes():
    task = build_task({"name": "segmentation", "class_names": ["bg", "a", "b"], "ignore_index": 255})
    torch.manual_seed(0)
    s, t = torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8)
    mask = torch.randint(0, 3, (2, 8, 8))
    mask[:, :4] = 255
    view = task.distill_view(s, t, {"mask": mask})
    kd = _machinery()
    loss = float(kd(view.student, view.teacher, 2.0, view.weight))
    assert loss == pytest.approx(reference(s, t, 2.0, mask != 255), rel=1e-5)
    s2 = s.clone()
    s2[:, :, :4] = 1e4  # whatever the student says at ignored pixels does not count
    v2 = task.distill_view(s2, t, {"mask": mask})
    assert float(kd(v2.student, v2.teacher, 2.0, v2.weight)) == pytest.approx(loss, rel=1e-6)
    low = task.distill_view(s[:, :, ::2, ::2], t, {"mask": mask})  # a net that predicts at 1/2 resolution
    assert low.student.shape == (2, 3, 8, 8) and low.weight.shape == (2, 8, 8)
    assert task.distill_view(s, t[:, :, ::2, ::2], {}).teacher.shape == s.shape  # no masks: teacher to student
