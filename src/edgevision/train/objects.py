"""A model object as a verb's input: ``edgevision.shrink(model, input_size=32, task="classification", ...)``.

Every verb reads its input from a file, so an ``nn.Module`` handed to the Python API is first saved as a model
file beside the run folder (``<out>.input.pt``) with an architecture spec (:func:`edgevision.models.adopt.adopt`),
a task and preprocessing. What the object does not say is given or defaulted:

- ``input_size``: an int or (H, W); default the data's ``input_size`` when ``data`` is given, else 224;
- ``channels``: default the ``in_channels`` of the first convolution (else 3);
- ``task``: a task name or a full task mapping; default ``classification``, its classes named ``0 … K-1`` after
  the model's K outputs (or ``classes=[...]``);
- ``mean`` / ``std``: default 0 and 1 per channel (the model sees pixels on the 0–1 scale);
- ``model_kwargs``: the constructor's arguments, when they cannot be read from the object's attributes;
- ``feature_layer``: the submodule whose output is the features, for a model without ``forward_features``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..artifacts import save_model
from ..errors import ConfigError
from ..models.adopt import adopt
from ..models.contract import name_features
from ..stages import default_out
from ..tasks import TASKS

OBJECT_OPTIONS = ("input_size", "channels", "task", "classes", "mean", "std", "model_kwargs", "feature_layer")


def module_input(obj: Any, verb: str, out: str | Path | None, options: dict[str, Any],
                 keep: tuple[str, ...] = (), tag: str = "input") -> tuple[Any, Path | None, dict[str, Any]]:
    """``(artifact, out, options)`` for a verb: unchanged for a path; for an ``nn.Module``, the saved input file,
    the output folder (decided now, so the input sits beside it) and the options without the object-only ones
    (except ``keep``: options that are also the verb's own, such as profile's ``input_size``)."""
    if not isinstance(obj, nn.Module):
        return obj, (Path(out) if out else None), options
    rest = {k: v for k, v in options.items() if k not in OBJECT_OPTIONS or k in keep}
    out = Path(out) if out else default_out(verb, type(obj).__name__)
    given = {k: options[k] for k in OBJECT_OPTIONS if k in options}
    path = save_object(obj, out.with_name(f"{out.name}.{tag}.pt"), data=options.get("data"), **given)
    return str(path), out, rest


def save_object(model: nn.Module, path: Path, *, input_size: int | tuple[int, int] | list[int] | str | None = None,
                channels: int | None = None, task: str | dict[str, Any] | None = None,
                classes: list[str] | None = None, mean: list[float] | None = None, std: list[float] | None = None,
                model_kwargs: dict[str, Any] | None = None, feature_layer: str | None = None, data: Any = None) -> Path:
    """Save ``model`` as an edgevision model file with the given or default task and preprocessing."""
    adopt(model, model_kwargs)
    name_features(model, feature_layer)
    c = int(channels or _first_conv_channels(model))
    size = _size(input_size if input_size is not None else _data_size(data))
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = model(torch.zeros(1, c, *size))
    model.train(was_training)
    task_d = _task(task, classes, out)
    pre = {"input_size": list(size), "channels": c, "mean": list(mean or [0.0] * c), "std": list(std or [1.0] * c),
           "resize": "stretch", "color": "RGB" if c == 3 else "GRAY", "scale": 1 / 255}
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_model(path, model, task=task_d, preprocess=pre, meta={"stage": "object"})


def _first_conv_channels(model: nn.Module) -> int:
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    return conv.in_channels if conv is not None else 3


def _data_size(data: Any) -> Any:
    size = data.get("input_size") if isinstance(data, dict) else None
    return size if size is not None else 224


def _size(value: Any) -> tuple[int, int]:
    if isinstance(value, str):
        value = [int(v) for v in value.lower().split("x")][-2:]
    if isinstance(value, int):
        return value, value
    if isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(v, int) and v > 0 for v in value):
        return int(value[0]), int(value[1])
    raise ConfigError(f"input_size={value!r}: expected an int or (H, W)")


def _task(task: str | dict[str, Any] | None, classes: list[str] | None, out: Any) -> dict[str, Any]:
    if isinstance(task, dict):
        return dict(task)
    name = task or "classification"
    if name not in TASKS:
        raise ConfigError(f"task={name!r}: allowed: {', '.join(TASKS.names())}")
    k = out.shape[1] if isinstance(out, torch.Tensor) and out.ndim >= 2 else 0
    names = list(classes) if classes else [str(i) for i in range(k)]
    try:
        return TASKS.get(name)(class_names=names).to_dict()
    except TypeError as e:
        raise ConfigError(f"task={name!r} needs more options than class names ({e}); give task as a mapping, "
                          f"e.g. {{'name': {name!r}, ...}}") from None
