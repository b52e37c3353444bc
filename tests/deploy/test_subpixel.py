"""Transposed convolutions rewritten as sub-pixel convolutions compute the same function (Shi et al., 2016)."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from edgevision.deploy.subpixel import SubPixelConvTranspose2d, rewrite_transposed
from edgevision.models import build_model

CASES = [(k, s, p, op) for k, s, p, op in itertools.product((1, 2, 3, 4, 5), (1, 2, 3), (0, 1, 2), (0, 1, 2))
         if op < s and p < k and (k - 1) - 2 * p + op >= 0]


@pytest.mark.parametrize("k,s,p,op", CASES)
def test_sub_pixel_form_equals_the_transposed_convolution(k, s, p, op):
    torch.manual_seed(k * 100 + s * 10 + p + op)
    t = nn.ConvTranspose2d(3, 5, k, s, p, output_padding=op, bias=bool(k % 2))
    x = torch.randn(2, 3, 7, 6)
    ref, got = t(x), SubPixelConvTranspose2d(t)(x)
    assert got.shape == ref.shape
    assert torch.allclose(got, ref, atol=1e-5)


def test_rectangular_kernels_and_strides():
    torch.manual_seed(0)
    t = nn.ConvTranspose2d(4, 2, (3, 2), (2, 1), (1, 0), output_padding=(1, 0))
    x = torch.randn(1, 4, 5, 5)
    assert torch.allclose(SubPixelConvTranspose2d(t)(x), t(x), atol=1e-5)


def test_the_usual_stride_two_case_needs_no_explicit_pad():
    """k=3, s=2, p=1, output_padding=1 (ENet, LinkNet): the padding stays inside the convolution."""
    m = SubPixelConvTranspose2d(nn.ConvTranspose2d(4, 4, 3, 2, 1, output_padding=1))
    assert m.pad is None and m.conv.padding == (1, 1) and m.conv.out_channels == 16


@pytest.mark.parametrize("name", ["enet", "linknet", "fastlinknet"])
def test_rewritten_segmentation_models_keep_their_outputs(name):
    torch.manual_seed(0)
    model = build_model(name, num_classes=2).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        ref = model(x)
        names = rewrite_transposed(model)
        got = model(x)
    assert names and not any(type(m) is nn.ConvTranspose2d for m in model.modules())
    assert torch.allclose(got, ref, atol=1e-4 * ref.abs().max().item())


def test_grouped_transposed_convolutions_are_left_alone():
    model = nn.Sequential(nn.ConvTranspose2d(4, 4, 2, 2, groups=2))
    assert rewrite_transposed(model) == [] and type(model[0]) is nn.ConvTranspose2d
