"""Quantization-aware training (QAT): fine-tune with int8 rounding simulated in the forward pass.

When post-training quantization loses too much, the float weights are fine-tuned while every conv/linear sees
its weights and inputs *fake-quantized* exactly as onnxruntime will quantize them (Jacob et al. 2018,
"Quantization and Training of Neural Networks for Efficient Integer-Arithmetic-Only Inference"):

- weights, per output channel, symmetric int8: ``w_q = clamp(round(w/s), −127, 127)·s`` with
  ``s = max|w_c|/127``;
- inputs, per tensor, asymmetric uint8: ``x_q = (clamp(round(x/s) + z, 0, 255) − z)·s`` with ``s, z`` from an
  exponential moving average of the observed range.

Rounding has zero gradient almost everywhere, so the straight-through estimator passes gradients unchanged
inside the clamp range. BatchNorm is folded into the preceding conv first (as the exporter does), so the
weights being simulated are the weights that get quantized. After training the fake-quant is removed and the
tuned float model goes through the normal int8 calibration, now losing less.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize

from ...compress.structured.trace import trace_model
from ...models.base import set_arch
from ...models.modspec import module_from_spec, module_to_spec


def _is_bn(m: nn.Module) -> bool:
    return isinstance(m, nn.modules.batchnorm._BatchNorm)


def conv_bn_pairs(model: nn.Module, input_shape: tuple[int, ...]) -> list[tuple[str, str]]:
    """(conv path, bn path) pairs where the BatchNorm is the only reader of the conv's output."""
    tr = trace_model(model, torch.zeros(2, *input_shape),
                     lambda m: isinstance(m, nn.modules.conv._ConvNd | nn.modules.batchnorm._BatchNorm))
    readers: dict[int, int] = {}
    for op in tr.ops:
        for k in op.inputs:
            readers[k] = readers.get(k, 0) + 1
    producer = {op.outputs[0]: op for op in tr.ops if op.kind == "module" and len(op.outputs) == 1}
    pairs = []
    for op in tr.ops:
        if op.kind == "module" and _is_bn(op.module) and op.inputs:
            src = producer.get(op.inputs[0])
            ok = src is not None and isinstance(src.module, nn.modules.conv._ConvNd) and not src.module.transposed
            if ok and readers.get(op.inputs[0], 0) == 1 and src.name not in {c for c, _ in pairs}:
                pairs.append((src.name, op.name))
    return pairs


def fold_batchnorm(model: nn.Module, input_shape: tuple[int, ...]) -> list[str]:
    """Fold every conv→BatchNorm pair in place: ``w' = w·γ/σ``, ``b' = (b − μ)·γ/σ + β``, BN → Identity.

    ``σ = √(running_var + eps)``. Both replacements are recorded as surgery, so the folded model reloads from
    its spec. Returns the folded conv paths.
    """
    arch = getattr(model, "_edgevision_arch", None)
    modules = dict(model.named_modules())
    folded = []
    for conv_path, bn_path in conv_bn_pairs(model, input_shape):
        conv, bn = modules[conv_path], modules[bn_path]
        spec = module_to_spec(conv)
        spec["args"]["bias"] = True
        new = module_from_spec(spec)
        with torch.no_grad():
            inv_std = 1 / torch.sqrt(bn.running_var + bn.eps)
            scale = bn.weight * inv_std if bn.affine else inv_std
            shift = bn.bias if bn.affine else torch.zeros_like(scale)
            bias = conv.bias if conv.bias is not None else torch.zeros_like(scale)
            new.weight.copy_(conv.weight * scale.reshape(-1, *[1] * (conv.weight.ndim - 1)))
            new.bias.copy_((bias - bn.running_mean) * scale + shift)
        new.train(conv.training)
        model.set_submodule(conv_path, new)
        model.set_submodule(bn_path, nn.Identity())
        if arch is not None:
            arch = arch.with_surgery(conv_path, module_to_spec(new))
            arch = arch.with_surgery(bn_path, module_to_spec(nn.Identity()))
        folded.append(conv_path)
    if arch is not None:
        set_arch(model, arch)
    return folded


class WeightFakeQuant(nn.Module):
    """Parametrization: per-output-channel symmetric int8 fake quantization of a weight tensor."""

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        scale = w.detach().abs().amax(dim=tuple(range(1, w.ndim))).clamp_min(1e-8) / 127
        zero = torch.zeros(w.shape[0], dtype=torch.int32, device=w.device)
        return torch.fake_quantize_per_channel_affine(w, scale.float(), zero, 0, -127, 127)


class ActFakeQuant:
    """Forward pre-hook: per-tensor asymmetric uint8 fake quantization of a layer's input, EMA range."""

    def __init__(self, momentum: float = 0.05) -> None:
        self.momentum = momentum
        self.lo: float | None = None
        self.hi: float | None = None

    def observe(self, x: torch.Tensor) -> None:
        lo, hi = min(float(x.min()), 0.0), max(float(x.max()), 0.0)  # the range always holds 0
        if self.lo is None:
            self.lo, self.hi = lo, hi
        else:
            m = self.momentum
            self.lo, self.hi = (1 - m) * self.lo + m * lo, (1 - m) * self.hi + m * hi

    def __call__(self, module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
        x = args[0]
        if module.training or self.lo is None:
            self.observe(x.detach())
        scale = max((self.hi - self.lo) / 255, 1e-8)
        zero = round(-self.lo / scale)
        return (torch.fake_quantize_per_tensor_affine(x, scale, zero, 0, 255), *args[1:])


class FakeQuantized:
    """Attach fake quantization to every conv/linear of ``model``; :meth:`remove` restores plain float layers."""

    def __init__(self, model: nn.Module, skip: Callable[[str], bool] = lambda p: False) -> None:
        self.model = model
        self.layers: list[tuple[str, nn.Module]] = []
        self.handles = []
        for path, m in model.named_modules():
            if isinstance(m, nn.Conv2d | nn.Conv1d | nn.Linear) and not skip(path):
                parametrize.register_parametrization(m, "weight", WeightFakeQuant())
                self.handles.append(m.register_forward_pre_hook(ActFakeQuant()))
                self.layers.append((path, m))

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
        for _, m in self.layers:
            parametrize.remove_parametrizations(m, "weight", leave_parametrized=False)
        self.handles, self.layers = [], []
