"""LeNet-300-100 and LeNet-5 (the Caffe 20-50-500 variant) as used in Deep Compression (Han et al. 2016)."""

from __future__ import annotations

import torch
from torch import nn

from .base import MODELS, EdgeModel


@MODELS.register("lenet300_100", default_input=(1, 28, 28), family="lenet",
                 description="MLP 784-300-100-10 (266,610 params)")
class LeNet300100(EdgeModel):
    """Fully connected 784→300→100→classes with ReLU."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, input_size: int = 28) -> None:
        super().__init__()
        self.flatten = nn.Flatten(1)
        self.fc1 = nn.Linear(in_channels * input_size * input_size, 300)
        self.relu1 = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(300, 100)
        self.relu2 = nn.ReLU(inplace=True)
        self.fc3 = nn.Linear(100, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu2(self.fc2(self.relu1(self.fc1(self.flatten(x)))))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc3(features)


@MODELS.register("lenet5", default_input=(1, 28, 28), family="lenet",
                 description="Caffe LeNet-5: conv20-pool-conv50-pool-fc500-fc (431,080 params)")
class LeNet5(EdgeModel):
    """conv 5×5×20 → maxpool → conv 5×5×50 → maxpool → fc 500 → ReLU → fc classes (Caffe's lenet.prototxt)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, input_size: int = 28) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 20, 5)
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(20, 50, 5)
        self.pool2 = nn.MaxPool2d(2)
        side = ((input_size - 4) // 2 - 4) // 2
        self.flatten = nn.Flatten(1)
        self.fc1 = nn.Linear(50 * side * side, 500)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(500, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool2(self.conv2(self.pool1(self.conv1(x))))  # (B, 50, 4, 4) at 28²

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.relu(self.fc1(self.flatten(features))))
