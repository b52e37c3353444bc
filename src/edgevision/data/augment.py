"""Batched augmentation on float images in [0, 1], aware of masks and boxes.

Geometric ops (flips, rotation, crop, translation, perspective) each draw a per-sample 3×3 matrix in pixel
coordinates (x right, y down, edges at 0 and W). The matrices are composed and the batch is warped **once**
with ``grid_sample``: bilinear for images, nearest for masks, and box corners are mapped, clipped and
degenerate boxes dropped. Photometric ops (blur, noise, contrast, brightness, salt-and-pepper, CLAHE) follow.
Every random draw uses the ``torch.Generator`` passed in, so a batch's augmentation is a pure function of
(seed, epoch, batch index) and a resumed run replays exactly.

The op list is Björgvinsdóttir & Seibold's (2016) (noise, blur, salt-and-pepper, mirror, CLAHE), OpenCV GSoC 2017's
(flips, rotation ±45°, crops, Gaussian and average blur, noise, contrast) and Demborg's (2018) random perspective warp.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..configs.data import (
    AugmentConfig,
    AvgBlurOp,
    BlurOp,
    ClaheOp,
    ColorJitterOp,
    CropOp,
    PerspectiveOp,
    RotateOp,
    TranslateOp,
)
from .mosaic import mixup, mosaic
from .warp import coin, eye, uniform, warp_boxes, warp_images

__all__ = ["AugmentConfig", "Augmenter", "homography", "sample_geometry", "warp_boxes", "warp_images"]


def _about_centre(m: torch.Tensor, w: int, h: int) -> torch.Tensor:
    t, ti = eye(len(m)), eye(len(m))
    t[:, 0, 2], t[:, 1, 2] = w / 2, h / 2
    ti[:, 0, 2], ti[:, 1, 2] = -w / 2, -h / 2
    return t @ m @ ti


def _flip(b: int, w: int, h: int, p: float, axis: int, gen: torch.Generator) -> torch.Tensor:
    m = eye(b)
    on = coin(p, b, gen)
    m[on, axis, axis] = -1
    m[on, axis, 2] = w if axis == 0 else h
    return m


def _rotate(b: int, w: int, h: int, op: RotateOp, gen: torch.Generator) -> torch.Tensor:
    on = coin(op.p, b, gen)
    th = torch.deg2rad(uniform(-op.degrees, op.degrees, b, gen)) * on
    m = eye(b)
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = th.cos(), -th.sin(), th.sin(), th.cos()
    return _about_centre(m, w, h)


def _crop(b: int, w: int, h: int, op: CropOp, gen: torch.Generator) -> torch.Tensor:
    """Random-resized crop: a window of the given area and aspect ratio is stretched to the full image."""
    on = coin(op.p, b, gen)
    area = uniform(*op.scale, b, gen)
    logr = uniform(math.log(op.ratio[0]), math.log(op.ratio[1]), b, gen)
    cw = (area * logr.exp()).sqrt().clamp(max=1.0) * w
    ch = (area / logr.exp()).sqrt().clamp(max=1.0) * h
    x0, y0 = torch.rand(b, generator=gen, dtype=torch.float64) * (w - cw), torch.rand(
        b, generator=gen, dtype=torch.float64) * (h - ch)
    m = eye(b)
    m[:, 0, 0], m[:, 1, 1] = w / cw, h / ch
    m[:, 0, 2], m[:, 1, 2] = -x0 * w / cw, -y0 * h / ch
    return torch.where(on[:, None, None], m, eye(b))


def _translate(b: int, op: TranslateOp, gen: torch.Generator) -> torch.Tensor:
    on = coin(op.p, b, gen)
    m = eye(b)
    m[:, 0, 2] = torch.round(uniform(-op.pixels, op.pixels, b, gen)) * on
    m[:, 1, 2] = torch.round(uniform(-op.pixels, op.pixels, b, gen)) * on
    return m


def homography(src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """Solve the (B, 3, 3) projective maps taking 4 points ``src`` (B, 4, 2) onto ``dst`` (B, 4, 2) (DLT, h33 = 1)."""
    x, y, u, v = src[..., 0], src[..., 1], dst[..., 0], dst[..., 1]
    z, o = torch.zeros_like(x), torch.ones_like(x)
    rows_u = torch.stack([x, y, o, z, z, z, -u * x, -u * y], -1)
    rows_v = torch.stack([z, z, z, x, y, o, -v * x, -v * y], -1)
    a = torch.cat([rows_u, rows_v], 1)  # (B, 8, 8)
    h = torch.linalg.solve(a, torch.cat([u, v], 1))
    return torch.cat([h, torch.ones(len(h), 1, dtype=h.dtype)], 1).reshape(-1, 3, 3)


def _perspective(b: int, w: int, h: int, op: PerspectiveOp, gen: torch.Generator) -> torch.Tensor:
    on = coin(op.p, b, gen)
    corners = torch.tensor([[0, 0], [w, 0], [w, h], [0, h]], dtype=torch.float64)
    cells = torch.tensor([[0, 0], [2, 0], [2, 2], [0, 2]], dtype=torch.float64)  # corner cells of the 3×3 grid
    src = (cells + torch.rand(b, 4, 2, generator=gen, dtype=torch.float64)) * torch.tensor([w / 3, h / 3])
    m = homography(src, corners.expand(b, 4, 2))
    return torch.where(on[:, None, None], m, eye(b))


def sample_geometry(cfg: AugmentConfig, b: int, h: int, w: int, gen: torch.Generator) -> torch.Tensor | None:
    """Compose the enabled geometric ops into one (B, 3, 3) source→output pixel map, or None if none is on."""
    steps = []
    if cfg.crop:
        steps.append(_crop(b, w, h, cfg.crop, gen))
    if cfg.perspective:
        steps.append(_perspective(b, w, h, cfg.perspective, gen))
    if cfg.rotate:
        steps.append(_rotate(b, w, h, cfg.rotate, gen))
    if cfg.translate:
        steps.append(_translate(b, cfg.translate, gen))
    if cfg.hflip:
        steps.append(_flip(b, w, h, cfg.hflip, 0, gen))
    if cfg.vflip:
        steps.append(_flip(b, w, h, cfg.vflip, 1, gen))
    if not steps:
        return None
    m = steps[0]
    for s in steps[1:]:
        m = s @ m
    return m


def _apply_geometry(batch: dict[str, Any], m: torch.Tensor) -> None:
    img = batch["image"]
    _, _, h, w = img.shape
    batch["image"] = warp_images(img, m)
    if "mask" in batch:
        batch["mask"] = warp_images(batch["mask"][:, None].float(), m, "nearest")[:, 0].to(batch["mask"].dtype)
    if "box" in batch:  # localization: one box per sample, clipped but never dropped
        batch["box"] = warp_boxes(batch["box"], m, w, h, 0.0)[0]
    if "boxes" in batch:
        counts = [len(bx) for bx in batch["boxes"]]
        if sum(counts):
            flat = torch.cat(list(batch["boxes"]))
            owner = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
            moved, keep = warp_boxes(flat, m[owner], w, h)
            labels = torch.cat(list(batch["labels"]))
            batch["boxes"] = [moved[(owner == i) & keep] for i in range(len(counts))]
            batch["labels"] = [labels[(owner == i) & keep] for i in range(len(counts))]


def _gaussian_kernel(sigma: float, k: int) -> torch.Tensor:
    t = torch.arange(k, dtype=torch.float32) - (k - 1) / 2
    g = torch.exp(-(t**2) / (2 * sigma**2))
    return g / g.sum()


def _blur(x: torch.Tensor, op: BlurOp) -> torch.Tensor:
    c = x.shape[1]
    g = _gaussian_kernel(op.sigma, op.kernel)
    x = F.pad(x, [op.kernel // 2] * 4, mode="replicate")
    x = F.conv2d(x, g.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(x, g.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def _avg_blur(x: torch.Tensor, op: AvgBlurOp) -> torch.Tensor:
    """Box filter with replicated borders (``cv2.blur``); even kernels are anchored like OpenCV's."""
    k = op.kernel
    lo, hi = k // 2, (k - 1) // 2
    x = F.pad(x, [lo, hi, lo, hi], mode="replicate")
    return F.avg_pool2d(x, k, stride=1)


def _blur_some(x: torch.Tensor, sel: torch.Tensor, fn: Callable[[torch.Tensor, Any], torch.Tensor],
               op: Any) -> torch.Tensor:
    """Apply a filter to the selected images only (blurring the whole batch and discarding most of it is slow)."""
    if not sel.any():
        return x
    x = x.clone()
    x[sel] = fn(x[sel], op)
    return x


def _clahe(x: torch.Tensor, op: ClaheOp) -> torch.Tensor:
    """CLAHE on the L channel of Lab (grey images directly), as in Björgvinsdóttir & Seibold (2016); a loop over images
    only."""
    clahe = cv2.createCLAHE(clipLimit=op.clip, tileGridSize=(op.tiles, op.tiles))
    out = []
    for im in (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy():
        if im.shape[2] == 1:
            out.append(clahe.apply(np.ascontiguousarray(im[..., 0]))[..., None])
        else:
            lab = cv2.cvtColor(np.ascontiguousarray(im), cv2.COLOR_RGB2LAB)
            lab[..., 0] = clahe.apply(np.ascontiguousarray(lab[..., 0]))
            out.append(cv2.cvtColor(lab, cv2.COLOR_LAB2RGB))
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).float() / 255


_RGB2YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


def _chroma_matrices(sat: torch.Tensor, hue: torch.Tensor) -> torch.Tensor:
    """(B, 3, 3) RGB → RGB maps that scale chroma by ``sat`` and rotate it by ``hue`` radians (in YIQ space)."""
    b = len(sat)
    m = torch.zeros(b, 3, 3)
    m[:, 0, 0] = 1.0  # luma Y unchanged
    c, s = hue.cos() * sat, hue.sin() * sat
    m[:, 1, 1], m[:, 1, 2], m[:, 2, 1], m[:, 2, 2] = c, -s, s, c
    return torch.linalg.inv(_RGB2YIQ) @ m @ _RGB2YIQ


def _color_jitter(x: torch.Tensor, op: ColorJitterOp, gen: torch.Generator) -> torch.Tensor:
    """Brightness · contrast · (saturation, hue) per sample on (B, C, H, W) in [0, 1]."""
    b = len(x)
    on = coin(op.p, b, gen)[:, None, None, None]
    bright = uniform(1 - op.brightness, 1 + op.brightness, b, gen).float()[:, None, None, None]
    contrast = uniform(1 - op.contrast, 1 + op.contrast, b, gen).float()[:, None, None, None]
    sat = uniform(1 - op.saturation, 1 + op.saturation, b, gen).float()
    hue = uniform(-op.hue, op.hue, b, gen).float() * (2 * math.pi)
    y = x * bright
    mean = y.mean((1, 2, 3), keepdim=True)
    y = (y - mean) * contrast + mean
    if x.shape[1] == 3:
        y = torch.einsum("bij,bjhw->bihw", _chroma_matrices(sat, hue), y)
    return torch.where(on, y, x)


def _photometric(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    b = len(x)
    if cfg.color_jitter:
        x = _color_jitter(x, cfg.color_jitter, gen).clamp(0, 1)

    def pick(p: float) -> torch.Tensor:
        return coin(p, b, gen)[:, None, None, None]

    if cfg.blur:
        x = _blur_some(x, coin(cfg.blur.p, b, gen), _blur, cfg.blur)
    if cfg.avg_blur:
        x = _blur_some(x, coin(cfg.avg_blur.p, b, gen), _avg_blur, cfg.avg_blur)
    if cfg.contrast:
        f = uniform(*cfg.contrast.range, b, gen).float()[:, None, None, None]
        mean = x.mean((1, 2, 3), keepdim=True)
        x = torch.where(pick(cfg.contrast.p), (x - mean) * f + mean, x)
    if cfg.brightness:
        f = uniform(*cfg.brightness.range, b, gen).float()[:, None, None, None]
        x = torch.where(pick(cfg.brightness.p), x * f, x)
    if cfg.noise:
        n = torch.randn(x.shape, generator=gen) * (cfg.noise.sigma / 255)
        x = torch.where(pick(cfg.noise.p), x + n, x)
    if cfg.salt_pepper:
        r = torch.rand(x[:, :1].shape, generator=gen)
        sel = pick(cfg.salt_pepper.p)
        a = cfg.salt_pepper.amount
        x = torch.where(sel & (r < a / 2), torch.zeros_like(x), x)
        x = torch.where(sel & (r > 1 - a / 2), torch.ones_like(x), x)
    if cfg.clahe:
        sel = coin(cfg.clahe.p, b, gen)
        if sel.any():
            x = x.clone()
            x[sel] = _clahe(x[sel], cfg.clahe)
    return x.clamp(0, 1)


class Augmenter:
    """Callable that augments a batch dict in place of its ``image`` (float, [0, 1]) and targets.

    Order: mosaic → the composed geometric warp → mixup → photometric ops. With ``close_mosaic`` N and the run's
    ``epochs`` E, mosaic and mixup are off from epoch E − N on (:meth:`set_epoch` is called before each epoch; the
    switch is a function of the epoch alone, so a resumed run switches at the same epoch).
    """

    def __init__(self, cfg: AugmentConfig, epochs: int | None = None) -> None:
        self.cfg, self.epochs = cfg, epochs
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    @property
    def mixing(self) -> bool:
        """Whether mosaic and mixup are on in the current epoch."""
        n = self.cfg.close_mosaic
        return not (n and self.epochs is not None and self.epoch >= self.epochs - n)

    def __call__(self, batch: dict[str, Any], gen: torch.Generator) -> dict[str, Any]:
        mixing = self.mixing
        if self.cfg.mosaic and mixing:
            batch = mosaic(batch, self.cfg.mosaic, gen)
        b, _, h, w = batch["image"].shape
        m = sample_geometry(self.cfg, b, h, w, gen)
        if m is not None:
            _apply_geometry(batch, m)
        if self.cfg.mixup and mixing:
            batch = mixup(batch, self.cfg.mixup, gen)
        batch["image"] = _photometric(batch["image"], self.cfg, gen)
        return batch
