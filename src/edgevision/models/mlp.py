"""The MLPs of Hinton, Vinyals & Dean (2015), "Distilling the Knowledge in a Neural Network"."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .base import MODELS, EdgeModel


@MODELS.register("hinton_mlp", default_input=(1, 28, 28), family="mlp",
                 description="MLP with configurable hidden sizes and dropout (Hinton 2015 teacher/student)")
class HintonMLP(EdgeModel):
    """Flatten → [dropout_in] → (Linear → ReLU → dropout) × len(hidden) → Linear.

    The paper's teacher is 2×1200 with dropout (0.2 on inputs, 0.5 hidden); the student 2×800 with none.
    """

    def __init__(self, hidden: Sequence[int] = (1200, 1200), dropout: float = 0.0, input_dropout: float = 0.0,
                 num_classes: int = 10, in_channels: int = 1, input_size: int = 28) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten(1)]
        if input_dropout:
            layers.append(nn.Dropout(input_dropout))
        width = in_channels * input_size * input_size
        for h in hidden:
            layers += [nn.Linear(width, int(h)), nn.ReLU(inplace=True)]
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = int(h)
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(width, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)
