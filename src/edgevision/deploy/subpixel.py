"""Transposed convolutions as sub-pixel convolutions, for converters that cannot lower them (LiteRT).

A stride-``s`` transposed convolution is ``s²`` ordinary convolutions of the input, one per output phase,
interleaved by depth-to-space (Shi et al., 2016, "Real-time single image and video super-resolution using an
efficient sub-pixel convolutional neural network"). With padding ``p`` and ``M = ⌈k / s⌉`` taps per phase, the
uncropped output at ``h' = q·s + r`` (``h' = h_out + p``) is

    y[h'] = Σ_{m < M} x[q − m] · w[r + s·m]        (w[k'] = 0 for k' ≥ k)

which is a cross-correlation of the input, padded by ``M − 1``, with the flipped taps
``v_r[j] = w[r + s·(M − 1 − j)]``. All phases form one ``Conv2d`` with ``C_out·s_h·s_w`` channels; the result is
interleaved (reshape + transpose) and cropped to the transposed convolution's size
``(H − 1)·s − 2p + k + output_padding``. The rewrite is exact up to float summation order.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class SubPixelConvTranspose2d(nn.Module):
    """The same function as a ``nn.ConvTranspose2d`` (groups 1, dilation 1), built from Conv2d, reshape and slice."""

    def __init__(self, t: nn.ConvTranspose2d) -> None:
        super().__init__()
        if t.groups != 1 or tuple(t.dilation) != (1, 1) or t.padding_mode != "zeros":
            raise ValueError("only groups=1, dilation=1, zero-padded transposed convolutions are rewritten")
        (kh, kw), (sh, sw) = t.kernel_size, t.stride
        self.k, self.s, self.p, self.op = (kh, kw), (sh, sw), tuple(t.padding), tuple(t.output_padding)
        mh, mw = math.ceil(kh / sh), math.ceil(kw / sw)
        c_in, c_out = t.in_channels, t.out_channels
        w = torch.zeros(c_out, sh, sw, c_in, mh, mw, dtype=t.weight.dtype)
        src = t.weight.detach()  # (C_in, C_out, kh, kw)
        for rh in range(sh):
            for rw in range(sw):
                for jh in range(mh):
                    for jw in range(mw):
                        ah, aw = rh + sh * (mh - 1 - jh), rw + sw * (mw - 1 - jw)
                        if ah < kh and aw < kw:
                            w[:, rh, rw, :, jh, jw] = src[:, :, ah, aw].T
        # symmetric padding M − 1 inside the convolution when its output is long enough (the usual case, and one int8
        # converters keep in the convolution); else one more row/column on the far side by an explicit pad
        fits = all(k + o - q <= m * s for k, o, q, m, s in zip((kh, kw), self.op, self.p, (mh, mw), (sh, sw)))
        self.pad = None if fits else (0, 1, 0, 1)
        self.conv = nn.Conv2d(c_in, c_out * sh * sw, (mh, mw), padding=(mh - 1, mw - 1), bias=t.bias is not None)
        self.conv.weight.data.copy_(w.reshape(c_out * sh * sw, c_in, mh, mw))
        if t.bias is not None:
            self.conv.bias.data.copy_(t.bias.detach().repeat_interleave(sh * sw))
        self.c_out = c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (sh, sw), (ph, pw) = self.s, self.p
        h = (x.shape[2] - 1) * sh - 2 * ph + self.k[0] + self.op[0]
        w = (x.shape[3] - 1) * sw - 2 * pw + self.k[1] + self.op[1]
        y = self.conv(x if self.pad is None else F.pad(x, self.pad))
        n, _, qh, qw = y.shape
        y = y.reshape(n * self.c_out, sh, sw, qh, qw).permute(0, 3, 1, 4, 2).reshape(n, self.c_out, qh * sh, qw * sw)
        return y[:, :, ph:ph + h, pw:pw + w]


def rewrite_transposed(model: nn.Module) -> list[str]:
    """Replace, in place, every rewritable ``nn.ConvTranspose2d`` of ``model`` by its sub-pixel form; returns the
    names of the layers replaced."""
    done = []
    for name, parent in list(model.named_modules()):
        for child_name, child in list(parent.named_children()):
            if type(child) is nn.ConvTranspose2d and child.groups == 1 and tuple(child.dilation) == (1, 1) \
                    and child.padding_mode == "zeros":
                setattr(parent, child_name, SubPixelConvTranspose2d(child))
                done.append(f"{name}.{child_name}" if name else child_name)
    return done
