"""Per-pixel distillation CE + λ·T²·KL (reference doc 004 eq. 3.4): the expectations any implementation must meet.

The distillation machinery (``edgevision.compress.distill``) lives on another branch; until it is merged, these
tests check the benchmark's temporary ``benchmarks/_pixel_kd.py`` against a slow per-pixel reference, and
``test_distill_machinery_meets_the_same_expectations`` is skipped. After merging, point ``MACHINERY`` at the
machinery's KD loss (logits (N, C, ...) with the class dimension at 1 → scalar).
"""

import importlib
import math
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _pixel_kd import pixel_kd

MACHINERY = ("edgevision.compress.distill", "kd_loss")  # (module, function): adjust to the merged API


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


def test_temporary_pixel_kd_matches_the_reference():
    _check(pixel_kd)


def test_distill_machinery_meets_the_same_expectations():
    mod_name, fn_name = MACHINERY
    try:
        mod = importlib.import_module(mod_name)
    except ImportError:
        pytest.skip(f"{mod_name} is not merged into this branch yet (distillation issue)")
    fn = getattr(mod, fn_name, None)
    if fn is None:
        pytest.skip(f"{mod_name}.{fn_name} not found: set MACHINERY to the merged KD loss")
    _check(lambda s, t, temp, valid=None: fn(s, t, temp) if valid is None else fn(s, t, temp, valid))
