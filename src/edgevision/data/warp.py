"""Pixel-space warps shared by the augmentations: per-sample 3×3 matrices, image warps and box mapping.

Coordinates are pixel edges (x right, y down, the image spans [0, W] × [0, H]); a matrix maps source pixels to
output pixels, p' = M p in homogeneous coordinates.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def coin(p: float, b: int, gen: torch.Generator) -> torch.Tensor:
    return torch.rand(b, generator=gen) < p


def uniform(lo: float, hi: float, b: int, gen: torch.Generator) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(b, generator=gen, dtype=torch.float64)


def eye(b: int) -> torch.Tensor:
    return torch.eye(3, dtype=torch.float64).repeat(b, 1, 1)


def _normalize(h: int, w: int) -> torch.Tensor:
    """(3, 3) map from pixel-edge coordinates to grid_sample's [−1, 1] (align_corners=False)."""
    return torch.tensor([[2 / w, 0, -1], [0, 2 / h, -1], [0, 0, 1]], dtype=torch.float64)


def warp_images(x: torch.Tensor, m: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """Warp (B, C, H, W) so that output pixel p' samples source ``m⁻¹ p'`` (pixel-edge coordinates).

    Affine maps (last row 0, 0, 1) build the sampling grid with ``affine_grid`` in float32; projective ones
    divide by the homogeneous coordinate per pixel."""
    b, _, h, w = x.shape
    inv = torch.linalg.inv(m)
    if bool((m[:, 2, :2] == 0).all() and (m[:, 2, 2] == 1).all()):
        n = _normalize(h, w)
        theta = (n @ inv @ torch.linalg.inv(n))[:, :2].to(torch.float32)
        grid = F.affine_grid(theta, [b, 1, h, w], align_corners=False)
        return F.grid_sample(x, grid.to(x.dtype), mode=mode, padding_mode="zeros", align_corners=False)
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64) + 0.5, torch.arange(w, dtype=torch.float64) + 0.5,
                            indexing="ij")
    pts = torch.stack([xs, ys, torch.ones_like(xs)], -1).reshape(1, -1, 3)  # (1, HW, 3) pixel centres
    src = pts @ inv.transpose(1, 2)  # (B, HW, 3)
    src = src[..., :2] / src[..., 2:].clamp(min=1e-9)
    grid = torch.stack([src[..., 0] / w * 2 - 1, src[..., 1] / h * 2 - 1], -1).reshape(b, h, w, 2)
    return F.grid_sample(x, grid.to(x.dtype), mode=mode, padding_mode="zeros", align_corners=False)


def warp_boxes(boxes: torch.Tensor, m: torch.Tensor, w: int, h: int, min_size: float = 2.0) -> tuple[torch.Tensor,
                                                                                                   torch.Tensor]:
    """Map xyxy boxes (N, 4) by per-box matrices (N, 3, 3); return clipped boxes and a keep mask.

    The new box is the axis-aligned hull of the 4 mapped corners, clipped to the image; boxes narrower or
    shorter than ``min_size`` pixels after clipping are dropped.
    """
    out = clip_boxes(map_boxes(boxes.double(), m), w, h)
    keep = ((out[:, 2] - out[:, 0]) >= min_size) & ((out[:, 3] - out[:, 1]) >= min_size)
    return out.to(boxes.dtype), keep


def map_boxes(boxes: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """The axis-aligned hull (N, 4) of the 4 corners of xyxy boxes (N, 4) mapped by (N, 3, 3), unclipped."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    cx = torch.stack([x1, x2, x2, x1], -1)
    cy = torch.stack([y1, y1, y2, y2], -1)
    pts = torch.stack([cx, cy, torch.ones_like(cx)], -1) @ m.to(boxes.dtype).transpose(1, 2)  # (N, 4, 3)
    px, py = pts[..., 0] / pts[..., 2], pts[..., 1] / pts[..., 2]
    return torch.stack([px.min(1).values, py.min(1).values, px.max(1).values, py.max(1).values], -1)


def clip_boxes(boxes: torch.Tensor, w: float, h: float) -> torch.Tensor:
    """xyxy boxes (N, 4) clipped to [0, w] × [0, h]."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    return torch.stack([x1.clamp(0, w), y1.clamp(0, h), x2.clamp(0, w), y2.clamp(0, h)], -1)
