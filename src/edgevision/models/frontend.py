"""Classical front-end channels computed inside the model (Asplund 2016): Harris corners or Canny edges.

Asplund (2016) put ``cv2.cornerHarris(gray, blockSize=2, ksize=3, k=0.04)``, thresholded at 1 % of the maximum
response, in front of its localizer as a Caffe Python layer. Here the same computation is written with torch
convolutions, so the channel travels with the model (training, ``predict``, ONNX export) and needs no OpenCV at
run time; tests compare it with OpenCV:

- Harris: Sobel 3×3 derivatives Ix, Iy (reflect-101 border); M = Σ_w [Ix², IxIy; IxIy, Iy²] over a 2×2 window
  (OpenCV's anchor: rows/cols y−1…y, x−1…x); R = det M − k·(tr M)²; channel = 1[R > 0.01·max R] per image.
- Canny (Canny 1986, OpenCV's variant): L1 gradient magnitude |Ix| + |Iy| of the 0–255 grey image, non-maximum
  suppression along the gradient direction quantized to 4 sectors, then hysteresis (weak pixels connected to
  strong ones) as repeated 3×3 dilations — to convergence in PyTorch, a fixed 32 steps in an exported graph.

Both work on the un-normalized grey image: the model is given the data's mean and std to undo normalization.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

FRONTENDS = ("none", "harris", "canny")
_SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


def sobel(gray: torch.Tensor, mode: str = "reflect") -> tuple[torch.Tensor, torch.Tensor]:
    """Sobel 3×3 derivatives (Ix, Iy) of (B, 1, H, W), same size (``reflect`` = OpenCV's BORDER_REFLECT_101)."""
    k = torch.stack([_SOBEL_X, _SOBEL_X.t()])[:, None].to(gray)
    g = F.conv2d(F.pad(gray, [1, 1, 1, 1], mode=mode), k)
    return g[:, :1], g[:, 1:]


def harris_response(gray: torch.Tensor, k: float = 0.04) -> torch.Tensor:
    """R = det M − k (tr M)² with a 2×2 structure-tensor window, as ``cv2.cornerHarris(g, 2, 3, k)``."""
    ix, iy = sobel(gray)
    cov = torch.cat([ix * ix, iy * iy, ix * iy], 1)
    cov = F.conv2d(F.pad(cov, [1, 0, 1, 0], mode="reflect"), torch.ones(3, 1, 2, 2).to(gray), groups=3)
    a, c, b = cov[:, :1], cov[:, 1:2], cov[:, 2:]
    return a * c - b * b - k * (a + c) ** 2


def harris_map(gray: torch.Tensor, k: float = 0.04, rel_threshold: float = 0.01) -> torch.Tensor:
    """Binary corner map (B, 1, H, W): 1 where R > ``rel_threshold``·max R of its image (Asplund's (2016) layer)."""
    r = harris_response(gray, k)
    peak = r.flatten(1).amax(1).view(-1, 1, 1, 1)
    return (r > rel_threshold * peak).to(gray.dtype)


def canny_map(gray255: torch.Tensor, low: float = 50.0, high: float = 150.0,
              export_steps: int = 32) -> torch.Tensor:
    """Binary Canny edge map (B, 1, H, W) of a 0–255 grey image; thresholds on the L1 Sobel magnitude."""
    ix, iy = sobel(gray255, mode="replicate")
    mag = ix.abs() + iy.abs()
    ax, ay = ix.abs(), iy.abs()
    t22, t67 = math.tan(math.pi / 8), math.tan(3 * math.pi / 8)
    p = F.pad(mag, [1, 1, 1, 1])
    h, w = mag.shape[-2:]

    def at(dy: int, dx: int) -> torch.Tensor:
        return p[..., 1 + dy:1 + dy + h, 1 + dx:1 + dx + w]

    horiz = ay <= ax * t22
    vert = ay > ax * t67
    same_sign = (ix * iy) > 0  # y grows downwards: a "\\" diagonal when the signs agree
    peak_h = (mag > at(0, -1)) & (mag >= at(0, 1))
    peak_v = (mag > at(-1, 0)) & (mag >= at(1, 0))
    peak_d1 = (mag > at(-1, -1)) & (mag > at(1, 1))
    peak_d2 = (mag > at(-1, 1)) & (mag > at(1, -1))
    peak = torch.where(horiz, peak_h, torch.where(vert, peak_v, torch.where(same_sign, peak_d1, peak_d2)))
    weak = peak & (mag > low)
    edges = (weak & (mag > high)).to(gray255.dtype)
    weak_f = weak.to(gray255.dtype)
    # grow strong edges along connected weak pixels (8-neighbourhood): until nothing changes in eager mode,
    # a fixed number of steps when traced for export (a graph cannot loop on data)
    tracing = torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()
    for _ in range(export_steps if tracing else h * w):
        grown = F.max_pool2d(edges, 3, 1, 1) * weak_f
        if not tracing and torch.equal(grown, edges):
            break
        edges = grown
    return edges


class ClassicalFrontend(nn.Module):
    """Appends a Harris or Canny channel to a normalized image batch: (B, C, H, W) → (B, C + 1, H, W)."""

    def __init__(self, kind: str, mean: list[float] | None = None, std: list[float] | None = None,
                 channels: int = 3) -> None:
        super().__init__()
        if kind not in FRONTENDS[1:]:
            raise ValueError(f"frontend {kind!r}: expected one of {', '.join(FRONTENDS)}")
        self.kind = kind
        self.register_buffer("mean", torch.tensor(mean or [0.0] * channels).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std or [1.0] * channels).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gray = (x * self.std + self.mean).mean(1, keepdim=True) * 255  # back to the 0–255 grey image
        extra = harris_map(gray) if self.kind == "harris" else canny_map(gray)
        return torch.cat([x, extra], 1)
