"""Batch-mixing augmentations for detection: mosaic (Bochkovskiy et al. 2020, YOLOv4) and mixup (Zhang et al. 2018).

Mosaic, per output image i of an H×W batch: take 4 images of the batch (i itself and three random permutations),
tile them into a 2H×2W canvas around a random centre (cx, cy) ∈ [W/2, 3W/2] × [H/2, 3H/2] — the top-left image
ends at the centre, the others follow in Z order (top-right, bottom-left, bottom-right) — then map the canvas
back to H×W with one affine

    M = T(W/2 + t_x·W, H/2 + t_y·H) · S(s) · T(−W, −H),   s ~ U(1 − scale, 1 + scale), t ~ U(−translate, translate)

so tile k's pixels reach the output by ``M · T(offset_k)``. M is a zoom and a shift, so the sampling grid is
separable: the 4 tiles are packed side by side and sampled by one ``grid_sample``; the canvas outside the tiles
is ``fill``. Boxes are clipped to the
canvas, mapped by M, clipped to the output and dropped below ``min_size`` pixels or ``min_visible`` of their
mapped area. Mixup blends x ← λ·x_i + (1 − λ)·x_j, λ ~ Beta(α, α), j ≠ i another image of the batch, and keeps
the boxes of both.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..configs.data import MixupOp, MosaicOp
from .warp import clip_boxes, coin, eye, map_boxes, uniform


def canvas_to_output(b: int, h: int, w: int, op: MosaicOp, gen: torch.Generator) -> torch.Tensor:
    """The (B, 3, 3) affine M from the 2H×2W canvas to the H×W output: zoom about the canvas centre, then shift."""
    s = uniform(1 - op.scale, 1 + op.scale, b, gen)
    tx, ty = uniform(-op.translate, op.translate, b, gen), uniform(-op.translate, op.translate, b, gen)
    m = eye(b)
    m[:, 0, 0], m[:, 1, 1] = s, s
    m[:, 0, 2], m[:, 1, 2] = w / 2 + tx * w - s * w, h / 2 + ty * h - s * h
    return m


def tile_offsets(centre: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(B, 4, 2) canvas positions of the tiles' top-left corners: top-left, top-right, bottom-left, bottom-right."""
    cx, cy = centre[:, 0], centre[:, 1]
    xs = torch.stack([cx - w, cx, cx - w, cx], 1)
    ys = torch.stack([cy - h, cy - h, cy, cy], 1)
    return torch.stack([xs, ys], -1)


def _packed(x: torch.Tensor, src: torch.Tensor) -> torch.Tensor:
    """(B, C, 2H, 2W): each output's 4 tiles side by side in blocks (top-left, top-right, bottom-left,
    bottom-right), one gather and reshape for the whole batch."""
    b, c, h, w = x.shape
    t = x[src.reshape(-1)].reshape(b, 2, 2, c, h, w)  # (B, ky, kx, C, H, W)
    return t.permute(0, 3, 1, 4, 2, 5).reshape(b, c, 2 * h, 2 * w)


def _axis(scale: torch.Tensor, shift: torch.Tensor, centre: torch.Tensor, n: int) -> tuple[torch.Tensor,
                                                                                           torch.Tensor]:
    """Along one axis: the packed-block coordinate (B, n) each output pixel centre samples, and whether a tile
    (inside the canvas) lies there. Output x' = s·u + t, so the canvas coordinate is u = (x' − t) / s."""
    u = ((torch.arange(n, dtype=torch.float64) + 0.5)[None] - shift[:, None]) / scale[:, None]
    k = (u >= centre[:, None]).double()  # 0: the tile left of (above) the centre, 1: right of (below) it
    local = u - centre[:, None] + n * (1 - k)
    valid = (local >= 0) & (local < n) & (u >= 0) & (u <= 2 * n)
    # clamped half a pixel inside the tile so bilinear sampling never blends two tiles of the packed layout
    return k * n + local.clamp(0.5, n - 0.5), valid


def _mosaic_images(x: torch.Tensor, src: torch.Tensor, centre: torch.Tensor, m: torch.Tensor, fill: float,
                   mode: str = "bilinear") -> torch.Tensor:
    """(B, C, H, W) mosaics: one ``grid_sample`` of the packed tiles on a separable grid (M is a zoom and shift)."""
    b, _, h, w = x.shape
    px, vx = _axis(m[:, 0, 0], m[:, 0, 2], centre[:, 0], w)
    py, vy = _axis(m[:, 1, 1], m[:, 1, 2], centre[:, 1], h)
    grid = torch.stack([(px / w - 1)[:, None, :].expand(b, h, w), (py / h - 1)[:, :, None].expand(b, h, w)], -1)
    out = F.grid_sample(_packed(x, src).float(), grid.float(), mode=mode, padding_mode="border", align_corners=False)
    valid = (vy[:, :, None] & vx[:, None, :])[:, None]
    return torch.where(valid, out, torch.full_like(out, fill))


def _mosaic_boxes(boxes: list[torch.Tensor], labels: list[torch.Tensor], src: torch.Tensor, offsets: torch.Tensor,
                  m: torch.Tensor, h: int, w: int, op: MosaicOp) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Boxes of the 4 tiles of every output image, vectorized over all boxes; returns per-image lists."""
    b = len(src)
    counts = torch.tensor([len(bx) for bx in boxes], dtype=torch.long)
    flat = torch.cat([bx.reshape(-1, 4) for bx in boxes]).double()
    flat_labels = torch.cat(list(labels))
    n = counts[src.reshape(-1)]  # boxes of each (image, tile) pair, pairs ordered image-major
    pair = torch.repeat_interleave(torch.arange(4 * b), n)
    local = torch.arange(int(n.sum())) - torch.repeat_interleave(n.cumsum(0) - n, n)
    idx = (counts.cumsum(0) - counts)[src.reshape(-1)[pair]] + local
    owner = pair // 4
    on_canvas = clip_boxes(flat[idx] + offsets.reshape(-1, 2)[pair].repeat(1, 2), 2 * w, 2 * h)
    full = map_boxes(flat[idx] + offsets.reshape(-1, 2)[pair].repeat(1, 2), m[owner])
    out = clip_boxes(map_boxes(on_canvas, m[owner]), w, h)
    bw, bh = out[:, 2] - out[:, 0], out[:, 3] - out[:, 1]
    area = ((full[:, 2] - full[:, 0]) * (full[:, 3] - full[:, 1])).clamp(min=1e-9)
    keep = (bw >= op.min_size) & (bh >= op.min_size) & (bw * bh / area >= op.min_visible)
    per = torch.bincount(owner[keep], minlength=b).tolist()
    dtype = boxes[0].dtype if boxes else torch.float32
    return list(out[keep].to(dtype).split(per)), list(flat_labels[idx][keep].split(per))


def mosaic(batch: dict[str, Any], op: MosaicOp, gen: torch.Generator) -> dict[str, Any]:
    """Replace each selected image (probability ``op.p``) of a float batch by a mosaic of 4 batch images; boxes
    (``boxes``/``labels``) and masks (``mask``) follow. Batches with neither are returned unchanged."""
    x = batch["image"]
    b, _, h, w = x.shape
    on = coin(op.p, b, gen)
    src = torch.stack([torch.arange(b)] + [torch.randperm(b, generator=gen) for _ in range(3)], 1)  # (B, 4)
    centre = torch.stack([uniform(w / 2, 1.5 * w, b, gen), uniform(h / 2, 1.5 * h, b, gen)], 1)
    m = canvas_to_output(b, h, w, op, gen)
    if not on.any() or not ("boxes" in batch or "mask" in batch):
        return batch
    sel = on[:, None, None, None]
    batch["image"] = torch.where(sel, _mosaic_images(x, src, centre, m, op.fill).to(x.dtype), x)
    if "mask" in batch:
        mk = _mosaic_images(batch["mask"][:, None].float(), src, centre, m, 0.0, "nearest")[:, 0]
        batch["mask"] = torch.where(on[:, None, None], mk.round().to(batch["mask"].dtype), batch["mask"])
    if "boxes" in batch and len(batch["boxes"]):
        offsets = tile_offsets(centre, h, w)
        boxes, labels = _mosaic_boxes(list(batch["boxes"]), list(batch["labels"]), src, offsets, m, h, w, op)
        keep = on.tolist()
        batch["boxes"] = [nb if k else ob for nb, ob, k in zip(boxes, batch["boxes"], keep)]
        batch["labels"] = [nl if k else ol for nl, ol, k in zip(labels, batch["labels"], keep)]
    return batch


def _beta(alpha: float, b: int, gen: torch.Generator) -> torch.Tensor:
    """(B,) draws of Beta(α, α), seeded from ``gen`` (torch's Beta sampler takes no generator)."""
    seed = int(torch.randint(0, 2**62, (1,), generator=gen))
    return torch.from_numpy(np.random.default_rng(seed).beta(alpha, alpha, b)).float()


def mixup(batch: dict[str, Any], op: MixupOp, gen: torch.Generator) -> dict[str, Any]:
    """Blend each selected image with another image of the batch (a cyclic shift of a random permutation, so
    never itself) and append that image's boxes. Only detection batches (``boxes``) with ≥ 2 images are mixed."""
    x = batch["image"]
    b = len(x)
    on = coin(op.p, b, gen)
    perm = torch.randperm(b, generator=gen)
    lam = _beta(op.alpha, b, gen)
    if b < 2 or "boxes" not in batch or not on.any():
        return batch
    partner = torch.empty_like(perm)
    partner[perm] = perm.roll(1)
    lam = torch.where(on, lam, torch.ones_like(lam))[:, None, None, None].to(x.dtype)
    batch["image"] = lam * x + (1 - lam) * x[partner]
    boxes, labels, p = batch["boxes"], batch["labels"], partner.tolist()
    batch["boxes"] = [torch.cat([boxes[i], boxes[p[i]]]) if k else boxes[i] for i, k in enumerate(on.tolist())]
    batch["labels"] = [torch.cat([labels[i], labels[p[i]]]) if k else labels[i] for i, k in enumerate(on.tolist())]
    return batch
