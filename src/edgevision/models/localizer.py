"""A single-object localizer: Asplund's (2016) network, made to work.

Asplund (2016) (Table 3.4): Harris layer → conv 32 7×7/2 → conv 128 5×5/2 → conv 128 3×3 → conv 32 5×5 → FC 4, trained
with a Euclidean loss on pixel coordinates; it collapsed to one constant box. Kept: the conv widths and kernel
sizes and the optional classical front-end channel (:mod:`.frontend`). Changed, because each one is a known cause
of that collapse: BatchNorm after every conv; extra stride-2 3×3 convs down to about 8×8 so the FC layer is small
and sees the whole image; outputs are *normalized* (cx, cy, w, h) logits (the task applies a sigmoid and a
scale-free smooth-L1 / GIoU loss); class logits ride along for Asplund's (2016) "classify and localize".

Output: (B, 4 + num_classes) = 4 box logits, then class logits.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import MODELS, EdgeModel
from .blocks import conv_bn_act
from .frontend import FRONTENDS, ClassicalFrontend


@MODELS.register("localizer", default_input=(3, 128, 128), family="localizer", task="localization",
                 description="Asplund's (2016) localizer made to work: BN convs, normalized box + class outputs")
class Localizer(EdgeModel):
    def __init__(self, num_classes: int = 1, in_channels: int = 3, input_size: int = 128, width: int = 32,
                 frontend: str = "none", input_mean: list[float] | None = None, input_std: list[float] | None = None,
                 dropout: float = 0.2, leaky: float = 0.0, final_size: int = 8) -> None:
        super().__init__()
        if frontend not in FRONTENDS:
            raise ValueError(f"frontend {frontend!r}: expected one of {', '.join(FRONTENDS)}")
        self.frontend = ClassicalFrontend(frontend, input_mean, input_std, in_channels) if frontend != "none" \
            else nn.Identity()
        c0 = in_channels + (frontend != "none")
        layers = [conv_bn_act(c0, width, 7, 2, leaky=leaky), conv_bn_act(width, 4 * width, 5, 2, leaky=leaky),
                  conv_bn_act(4 * width, 4 * width, 3, leaky=leaky)]
        size = (input_size + 1) // 2
        size = (size + 1) // 2
        while size > final_size:
            layers.append(conv_bn_act(4 * width, 4 * width, 3, 2, leaky=leaky))
            size = (size + 1) // 2
        layers.append(conv_bn_act(4 * width, width, 1, leaky=leaky))
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(1), nn.Dropout(dropout) if dropout else nn.Identity(),
                                  nn.Linear(width * size * size, 256), nn.ReLU(inplace=True),
                                  nn.Linear(256, 4 + num_classes))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(self.frontend(x).contiguous(memory_format=torch.channels_last))  # faster on CPU

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)
