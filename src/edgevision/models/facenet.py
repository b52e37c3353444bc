"""A small face-embedding CNN for embedded cameras (Björgvinsdóttir & Seibold 2016, scaled from VGG-Face to ~0.2 M
params).

VGG-Face (Parkhi et al. 2015) is conv blocks → three fully connected layers; Björgvinsdóttir & Seibold (2016) adapts it
by transfer learning and prunes the fully connected layers. ``face_cnn`` keeps that shape at embedded size: four
conv3×3-BN-ReLU-maxpool blocks (any input side; the map is ⌈side/16⌉²), then ``fc`` (flatten →
``embed_dim``, BN; plain flatten, as in VGG, so ONNX export needs no adaptive pooling) — the embedding — and
a classifier head. With ``head="cosine"`` the head
is a :class:`CosineLinear` that outputs ``s·cos θ_j`` between the normalized embedding and class weights,
which the ``face`` task turns into CosFace / ArcFace logits; with ``head="linear"`` it is the doc's plain
softmax classifier.
"""

from __future__ import annotations

import itertools
import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from .base import MODELS, EdgeModel


class CosineLinear(nn.Linear):
    """``y_j = s · (x/‖x‖) · (w_j/‖w_j‖)`` — cosine logits scaled by ``s`` (Wang et al. 2018, CosFace).

    It is an ``nn.Linear`` (bias-free), so pruning, packing and ONNX export treat it as one.
    """

    def __init__(self, in_features: int, out_features: int, scale: float = 30.0) -> None:
        super().__init__(in_features, out_features, bias=False)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, D) → (B, classes)
        return self.scale * F.linear(F.normalize(x, dim=1), F.normalize(self.weight, dim=1))


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.MaxPool2d(2, ceil_mode=True))


@MODELS.register("face_cnn", default_input=(1, 64, 64), family="face", task="face",
                 description="4 conv blocks → fc embedding (128) → cosine or linear head (0.13 M params at 48²)")
class FaceCNN(EdgeModel):
    """conv16-32-64-64 (3×3, BN, ReLU, maxpool) → flatten 64·⌈s/16⌉² → fc ``embed_dim`` + BN → head."""

    def __init__(self, num_classes: int = 40, in_channels: int = 1, input_size: int = 64, embed_dim: int = 128,
                 widths: tuple[int, ...] = (16, 32, 64, 64), head: Literal["cosine", "linear"] = "cosine",
                 scale: float = 30.0, mean_image: bool = False) -> None:
        super().__init__()
        # Björgvinsdóttir & Seibold's (2016) per-pixel mean image (VGG-Face style), subtracted inside the network so
        # every exporter and engine gets it for free; filled from the training images by ``fit_data``
        self.register_buffer("pixel_mean", torch.zeros(in_channels, input_size, input_size) if mean_image else None)
        chans = [in_channels, *widths]
        self.features = nn.Sequential(*[_block(a, b) for a, b in itertools.pairwise(chans)])
        side = input_size
        for _ in widths:
            side = math.ceil(side / 2)  # maxpool 2, ceil mode
        self.fc = nn.Linear(widths[-1] * side * side, embed_dim)
        self.bn = nn.BatchNorm1d(embed_dim)
        self.head = CosineLinear(embed_dim, num_classes, scale) if head == "cosine" else nn.Linear(embed_dim,
                                                                                                   num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) → (B, embed_dim)
        if self.pixel_mean is not None:
            x = x - self.pixel_mean
        return self.bn(self.fc(torch.flatten(self.features(x), 1)))

    @torch.no_grad()
    def fit_data(self, images: torch.Tensor, mean: list[float], std: list[float]) -> None:
        """Set the per-pixel mean image from the training images (uint8 (N, C, H, W)), in the normalized space the
        network sees: M = (1/N) Σ_n (x_n/255 − μ_c)/σ_c. A no-op without ``mean_image=True``."""
        if self.pixel_mean is None:
            return
        m = images.float().mean(0) / 255
        mu, sd = torch.tensor(mean).view(-1, 1, 1), torch.tensor(std).view(-1, 1, 1)
        self.pixel_mean.copy_((m - mu) / sd)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """L2-normalized embeddings (B, embed_dim): cosine similarity is their dot product."""
        return F.normalize(self.forward_features(x), dim=1)
