"""Parameter and MAC counts.

MACs are multiply-accumulates, counted by ``torch.utils.flop_counter.FlopCounterMode`` (which reports FLOPs =
2 × MACs for convolutions and matrix products) divided by two. Only conv, linear and matmul ops count;
BatchNorm, activations, pooling and additions are not included — the usual convention for CNN "MACs".
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_macs(model: nn.Module, input_shape: tuple[int, ...], per_module: bool = False) -> int | dict[str, int]:
    """MACs of one forward pass at batch 1 for ``input_shape`` = (C, H, W).

    With ``per_module``, return ``{module_name: macs}`` for every leaf module that has MACs.
    """
    was_training = model.training
    model.eval()
    x = torch.zeros(1, *input_shape)
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(x)
    model.train(was_training)
    if not per_module:
        return int(fc.get_total_flops() // 2)
    leaves = {n for n, m in model.named_modules() if not any(True for _ in m.children())}
    out = {}
    for name, counts in fc.get_flop_counts().items():
        key = name.removeprefix("Global").lstrip(".")
        key = key.split(".", 1)[1] if "." in key and key.split(".", 1)[0] == type(model).__name__ else key
        if key in leaves:
            out[key] = int(sum(counts.values()) // 2)
    return out
