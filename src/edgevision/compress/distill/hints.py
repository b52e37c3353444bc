"""Feature distillation between named layers of any two models: FitNets hints and attention transfer.

- **FitNets** (Romero et al. 2015): a 1×1 conv regressor ``r`` maps the student layer's output ``u`` to the
  teacher layer's channel count; loss ``‖r(u) − v‖² `` (mean over elements). Vector features (N, D) use a
  linear regressor; a map paired with a vector is global-average-pooled first. If spatial sizes differ, the
  regressed map is average-pooled down (or bilinearly resized up) to the teacher's.
- **Attention transfer** (Zagoruyko & Komodakis 2017): ``Q(A) = normalize(vec(mean_c A_c²))`` per sample;
  loss ``mean((Q_s − Q_t)²)``, weighted by β (the paper's β = 1000). Channel counts may differ; the larger
  map is average-pooled to the smaller.

Layers are chosen by module name (``named_modules``) and captured with forward hooks. Shapes are resolved by
a dry run on zeros, so any pair of registered models works, whatever their structure (residual adds, fire
concatenations, depthwise convs). A bad name is a one-line error that lists the valid names.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...configs.distill import HintConfig
from ...errors import ConfigError, suggest


def layer_names(model: nn.Module) -> list[str]:
    """Every named submodule (the valid hint layer names)."""
    return [n for n, _ in model.named_modules() if n]


def find_layer(model: nn.Module, name: str, role: str) -> nn.Module:
    """The submodule ``name`` of ``model`` or a one-line ConfigError listing the valid names."""
    modules = dict(model.named_modules())
    if name and name in modules:
        return modules[name]
    names = layer_names(model)
    raise ConfigError(f"hint {role} layer {name!r} not found{suggest(name, names)}; valid {role} layers: "
                      f"{', '.join(names)}")


class FeatureTap:
    """Forward hooks that keep the outputs of named layers from the latest forward pass."""

    def __init__(self, model: nn.Module, names: Sequence[str], role: str) -> None:
        self.out: dict[str, torch.Tensor] = {}
        self.handles = [find_layer(model, n, role).register_forward_hook(self._hook(n)) for n in dict.fromkeys(names)]

    def _hook(self, name: str):
        def fn(_m: nn.Module, _inp: Any, output: Any) -> None:
            if not isinstance(output, torch.Tensor):
                raise ConfigError(f"hint layer {name!r} returns {type(output).__name__}, not a tensor")
            # clone: a following in-place ReLU would otherwise overwrite the captured values
            self.out[name] = output.clone()
        return fn

    def clear(self) -> None:
        self.out.clear()

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles.clear()


@torch.no_grad()
def dry_run_shapes(model: nn.Module, names: Sequence[str], input_shape: Sequence[int], role: str
                   ) -> dict[str, tuple[int, ...]]:
    """Output shapes (without the batch dim) of the named layers for one zero input of ``input_shape`` (C, H, W)."""
    tap = FeatureTap(model, names, role)
    was = model.training
    model.eval()
    try:
        model(torch.zeros(2, *input_shape))
    finally:
        model.train(was)
        tap.remove()
    return {n: tuple(t.shape[1:]) for n, t in tap.out.items()}


def _pool_to(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize a map (N, C, h, w) to ``size``: average-pool when shrinking, bilinear when growing."""
    if tuple(x.shape[-2:]) == size:
        return x
    if x.shape[-2] >= size[0] and x.shape[-1] >= size[1]:
        return F.adaptive_avg_pool2d(x, size)
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def _as_vector(x: torch.Tensor) -> torch.Tensor:
    return x.mean(tuple(range(2, x.ndim))) if x.ndim > 2 else x


class FitNetHint(nn.Module):
    """1×1 conv (maps) or linear (vectors) regressor from student channels to teacher channels, and its MSE."""

    def __init__(self, s_shape: tuple[int, ...], t_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.maps = len(s_shape) == 3 and len(t_shape) == 3
        if not self.maps and (len(s_shape) not in (1, 3) or len(t_shape) not in (1, 3)):
            raise ConfigError(f"FitNets hint needs (C, H, W) maps or (D,) vectors; got {s_shape} → {t_shape}")
        self.size = tuple(t_shape[1:]) if self.maps else None
        self.adapter = nn.Conv2d(s_shape[0], t_shape[0], 1) if self.maps else nn.Linear(s_shape[0], t_shape[0])

    def forward(self, s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if self.maps:
            pred = _pool_to(self.adapter(s.float()), self.size)
        else:
            pred = self.adapter(_as_vector(s.float()))
            t = _as_vector(t)
        return F.mse_loss(pred, t.float())


def attention_map(x: torch.Tensor) -> torch.Tensor:
    """``normalize(vec(mean_c x_c²))``: (N, C, H, W) → (N, H·W) with unit L2 norm per sample."""
    return F.normalize(x.float().pow(2).mean(1).flatten(1), dim=1)


def attention_transfer(s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """``mean((Q_s − Q_t)²)`` of the attention maps; the larger map is pooled to the smaller first."""
    if s.ndim != 4 or t.ndim != 4:
        raise ConfigError(f"attention transfer needs (N, C, H, W) feature maps; got {tuple(s.shape)} and "
                          f"{tuple(t.shape)}")
    size = (min(s.shape[2], t.shape[2]), min(s.shape[3], t.shape[3]))
    return (attention_map(_pool_to(s, size)) - attention_map(_pool_to(t.detach(), size))).pow(2).mean()


class HintSet:
    """The configured hints of one student/teacher pair: hooks on both models plus the adapters to train.

    Args:
        student, teacher: the two models (the teacher's parameters are not trained).
        hints: the layer pairs.
        student_input, teacher_input: (C, H, W) inputs for the dry run that resolves the layer shapes.
    """

    def __init__(self, student: nn.Module, teacher: nn.Module, hints: Sequence[HintConfig],
                 student_input: Sequence[int], teacher_input: Sequence[int]) -> None:
        self.hints = list(hints)
        s_shapes = dry_run_shapes(student, [h.student for h in hints], student_input, "student")
        t_shapes = dry_run_shapes(teacher, [h.teacher for h in hints], teacher_input, "teacher")
        self.adapters = nn.ModuleDict()
        for i, h in enumerate(self.hints):
            if h.kind == "fitnet":
                self.adapters[str(i)] = FitNetHint(s_shapes[h.student], t_shapes[h.teacher])
            elif len(s_shapes[h.student]) != 3 or len(t_shapes[h.teacher]) != 3:
                raise ConfigError(f"attention transfer {h.student}:{h.teacher} needs feature maps (C, H, W); got "
                                  f"{s_shapes[h.student]} and {t_shapes[h.teacher]}")
        self.shapes = {"student": s_shapes, "teacher": t_shapes}
        self.student_tap = FeatureTap(student, [h.student for h in hints], "student")
        self.teacher_tap = FeatureTap(teacher, [h.teacher for h in hints], "teacher")

    def loss(self) -> torch.Tensor:
        """Σ weight · loss over hints, from the features captured by the latest student and teacher forwards."""
        s_out, t_out = self.student_tap.out, self.teacher_tap.out
        total = torch.zeros(())
        for i, h in enumerate(self.hints):
            s, t = s_out[h.student], t_out[h.teacher].detach()
            term = self.adapters[str(i)](s, t) if h.kind == "fitnet" else attention_transfer(s, t)
            total = total + h.resolved_weight * term
        return total

    def describe(self) -> list[dict[str, Any]]:
        return [{"student": h.student, "teacher": h.teacher, "kind": h.kind, "weight": h.resolved_weight,
                 "student_shape": list(self.shapes["student"][h.student]),
                 "teacher_shape": list(self.shapes["teacher"][h.teacher])} for h in self.hints]

    def remove(self) -> None:
        self.student_tap.remove()
        self.teacher_tap.remove()
