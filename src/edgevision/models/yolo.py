"""ultralytics YOLO detectors as edgevision models: ``ultralytics:yolo11n.yaml`` or ``ultralytics:runs/best.pt``.

A YOLOv8 / YOLO11 ``Detect`` head is an anchor-free point head with distribution focal loss (Li et al. 2020): per
point of strides 8, 16, 32, four distances (left, top, right, bottom) as 16-bin distributions in stride units,
then one logit per class. That is exactly edgevision's points head with ``reg_max = 15``
(:mod:`edgevision.tasks.afdet_loss`), so :class:`YoloDetector` only lays the head's raw outputs out as
``(B, N, 4·16 + C)``: the detection task then trains it (task-aligned assignment, CIoU, DFL), evaluates, decodes,
exports, prunes, quantizes and distills it like an AFDet model. Nothing of ultralytics is patched; its decoded
inference branch is skipped by running the head in its raw mode.

- ``ultralytics:<name>.yaml``: an architecture ultralytics knows by name (``yolo11n.yaml``, ``yolov8s.yaml``) or a
  YAML file, built with ``num_classes`` classes, untrained;
- ``ultralytics:<path>.pt``: a checkpoint a user trained. It is a pickle, so it is read with PyTorch's
  ``weights_only`` unpickler, allowing only the ``nn.Module`` classes of ultralytics and ``torch.nn`` it names (and
  ultralytics' plain argument namespace): no function is ever called. Its class count must match the data's. The
  artifact records the checkpoint's architecture (its YAML as a mapping), not the file, so it rebuilds without it.

ultralytics is AGPL-3.0 and needs torchvision: it lives in the zoo venv (``make install-peer``), is imported only
when such a reference is used, and runs offline (``YOLO_OFFLINE``: nothing is downloaded).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError, cause_of

PREFIX = "ultralytics"
INSTALL = "make install-peer (ultralytics in the zoo venv; docs/zoo.md)"
REG_MAX = 15  # ultralytics' Detect: 16 bins per side, 0 … 15
SAFE = ("ultralytics.nn.", "torch.nn.modules.")  # where the nn.Module classes a YOLO checkpoint names may come from
SAFE_DATA = ("ultralytics.utils.IterableSimpleNamespace",)  # the trainer's arguments in last.pt / unfinished best.pt
META = {"task": "detection", "head": "points", "family": "yolo", "reg_max": REG_MAX, "default_input": (3, 640, 640),
        "description": "an ultralytics YOLO detector (its Detect head as a points head)"}


class YoloDetector(nn.Module):
    """An ultralytics ``DetectionModel`` whose output is edgevision's points-head layout ``(B, N, 4·16 + C)``."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        head = net.model[-1]
        if type(head).__name__ != "Detect" or getattr(head, "one2one_cv2", None) is not None:
            raise ConfigError(f"ultralytics model: its last layer is {type(head).__name__}; edgevision takes the "
                              f"one-to-many Detect head of YOLOv8 / YOLO11 detectors")
        self.net = net
        self.num_classes = int(head.nc)
        self.reg_max = int(head.reg_max) - 1
        self.strides = [int(s) for s in head.stride.tolist()]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        head = self.net.model[-1]
        mode = head.training
        head.training = True  # the raw branch only; the head's own layers keep their mode
        try:
            preds = self.net(x)
        finally:
            head.training = mode
        return torch.cat([preds["boxes"], preds["scores"]], 1).transpose(1, 2)


def _ultralytics(ref: str) -> Any:
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_VERBOSE", "False")
    try:
        return importlib.import_module("ultralytics.nn.tasks")
    except Exception as e:  # missing, or torchvision that does not import beside this torch
        why = "is not installed" if isinstance(e, ModuleNotFoundError) else f"does not import ({cause_of(e)[:120]})"
        raise ConfigError(f"model reference {ref!r}: ultralytics {why}; {INSTALL}") from None


def load_checkpoint(path: Path, ref: str) -> nn.Module:
    """The model of a YOLO ``.pt`` (its EMA weights when saved), unpickled with only ultralytics / torch.nn
    classes allowed; one line when the file is missing or names anything else."""
    if not path.is_file():
        raise ConfigError(f"model reference {ref!r}: {path}: no such file")
    _ultralytics(ref)
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except Exception as e:
        raise ConfigError(f"{path}: not a PyTorch checkpoint ({cause_of(e)[:120]})") from None
    allowed = {n: _allowed(n) for n in names}
    other = [n for n, obj in allowed.items() if obj is None]
    if other:
        raise ConfigError(f"{path}: the checkpoint names {', '.join(other[:3])}{' …' if len(other) > 3 else ''}; "
                          f"a YOLO .pt is read only when it names ultralytics and torch.nn module classes alone")
    try:
        with torch.serialization.safe_globals(list(allowed.values())):
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ConfigError(f"{path}: cannot read the YOLO checkpoint ({cause_of(e)[:160]})") from None
    net = ckpt.get("ema") or ckpt.get("model") if isinstance(ckpt, dict) else None
    if not isinstance(net, nn.Module):
        raise ConfigError(f"{path}: no 'model' or 'ema' network in the checkpoint (an ultralytics .pt has one)")
    return net.float()


def _allowed(name: str) -> Any:
    """The object a checkpoint names when it is an ``nn.Module`` class of ultralytics / torch.nn (or the trainer's
    argument namespace), else None: functions and other classes are never allowed."""
    if name not in SAFE_DATA and not name.startswith(SAFE):
        return None
    module, _, attr = name.rpartition(".")
    try:
        obj = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return None
    ok = isinstance(obj, type) and (issubclass(obj, nn.Module) or name in SAFE_DATA)
    return obj if ok else None


def factory(spec: str, ref: str) -> Callable[..., YoloDetector]:
    """The constructor behind ``ultralytics:<spec>``, taking ``num_classes`` (and ``reg_max``, which must be 15);
    ``cfg``, an architecture mapping, is what a checkpoint's artifact records so it rebuilds without the file."""

    def ultralytics_model(num_classes: int = 80, reg_max: int = REG_MAX, cfg: dict | None = None) -> YoloDetector:
        if reg_max != REG_MAX:
            raise ConfigError(f"model reference {ref!r}: YOLO heads have 16 bins per side (reg_max {REG_MAX}), not "
                              f"{reg_max}; drop task_options.reg_max")
        if spec.endswith(".pt") and cfg is None:
            model = YoloDetector(load_checkpoint(Path(spec), ref))
            if model.num_classes != num_classes:
                raise ConfigError(f"{spec}: the YOLO model has {model.num_classes} classes, the data "
                                  f"{num_classes}; train it on data with the same classes (or start from its .yaml)")
            model.rebuild_kwargs = {"cfg": dict(model.net.yaml)}  # the artifact's spec: no file needed again
            return model
        tasks = _ultralytics(ref)
        try:
            net = tasks.DetectionModel(dict(cfg) if cfg is not None else spec, nc=num_classes, verbose=False)
        except FileNotFoundError:
            raise ConfigError(f"model reference {ref!r}: ultralytics knows no architecture {spec!r} (e.g. "
                              f"yolo11n.yaml, yolov8n.yaml, or a YAML file)") from None
        return YoloDetector(net.float())

    return ultralytics_model


def canonical(spec: str) -> str:
    """``ultralytics:<abs path>`` for a file that exists (so an artifact rebuilds from any directory), else as given."""
    p = Path(spec).expanduser()
    return f"{PREFIX}:{p.resolve()}" if p.suffix in (".pt", ".yaml", ".yml") and p.is_file() else f"{PREFIX}:{spec}"
