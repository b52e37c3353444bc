"""Small test models that exercise every coupling the pruner must handle (not registered in MODELS)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Coupled(nn.Module):
    """Residual add, concatenation, depthwise conv with multiplier, PReLU, transposed conv, dilated and asymmetric
    convs, squeeze-excitation gating, a shape-dependent branch, and a linear layer after flatten."""

    def __init__(self, c: int = 16, classes: int = 5) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU())
        self.res1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.res_bn1 = nn.BatchNorm2d(c)
        self.res2 = nn.Conv2d(c, c, 3, padding=2, dilation=2, bias=False)
        self.res_bn2 = nn.BatchNorm2d(c)
        self.branch_a = nn.Conv2d(c, 8, (3, 1), padding=(1, 0))
        self.branch_b = nn.Conv2d(c, 8, (1, 3), padding=(0, 1))
        self.post = nn.Conv2d(16, 12, 1)
        self.dw = nn.Conv2d(12, 24, 3, padding=1, groups=12)  # depthwise, channel multiplier 2
        self.prelu = nn.PReLU(24)
        self.se_fc1 = nn.Linear(24, 6)
        self.se_fc2 = nn.Linear(6, 24)
        self.down = nn.Conv2d(24, 10, 3, stride=2, padding=1)
        self.up = nn.ConvTranspose2d(10, 24, 2, stride=2)
        self.fc = nn.Linear(24 * 4 * 4, 32)
        self.head = nn.Linear(32, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        r = self.res_bn2(self.res2(F.relu(self.res_bn1(self.res1(x)))))
        x = F.relu(x + r)  # residual add couples stem and res2 outputs
        x = torch.cat([F.relu(self.branch_a(x)), F.relu(self.branch_b(x))], dim=1)  # concat: 8 + 8
        x = self.prelu(self.dw(F.relu(self.post(x))))
        s = torch.sigmoid(self.se_fc2(F.relu(self.se_fc1(x.mean((2, 3))))))
        x = x * s[:, :, None, None]  # squeeze-excitation gating couples se_fc2 outputs with dw channels
        u = self.up(F.relu(self.down(x)))
        if u.shape[-1] != x.shape[-1]:  # shape-dependent control flow (breaks symbolic tracing)
            u = F.interpolate(u, size=x.shape[-2:])
        x = x + u  # skip add couples the transposed conv's outputs too
        x = F.adaptive_avg_pool2d(x, 4)
        return self.head(F.relu(self.fc(torch.flatten(x, 1))))
