"""``student_cnn``: a plain VGG-style family with width and depth knobs, meant as a distillation student.

Stage i has ``convs_per_stage`` conv-BN-ReLU layers of ``width·2^i`` channels followed by a 2×2 max-pool;
a global-average-pool head makes it input-size agnostic.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import MODELS, EdgeModel
from .blocks import ClassifierHead, conv_bn_act


@MODELS.register("student_cnn", default_input=(3, 64, 64), family="student",
                 description="VGG-style student: depth stages of width·2^i channels")
class StudentCNN(EdgeModel):
    def __init__(self, width: int = 16, depth: int = 3, convs_per_stage: int = 1, num_classes: int = 10,
                 in_channels: int = 3, dropout: float = 0.0, leaky: float = 0.0, max_width: int = 512) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for i in range(depth):
            w = min(max_width, width * 2**i)
            for _ in range(convs_per_stage):
                layers.append(conv_bn_act(c, w, 3, leaky=leaky))
                c = w
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.head = ClassifierHead(c, num_classes, dropout)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)
