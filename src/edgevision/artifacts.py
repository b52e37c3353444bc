"""Saving and loading models.

``model.pt`` is a ``torch.save`` of plain data only — the architecture spec, the ``state_dict``, the task and
the preprocessing — so it loads with ``torch.load(weights_only=True)`` and never unpickles code. Loaders for
other artifact kinds (``.evz``, ``.onnx``) register in :data:`LOADERS` by suffix. A run folder resolves to the
artifact its card names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import ArtifactError, EdgevisionError, cause_of
from .models.base import ArchSpec, build_from_spec, get_arch
from .registry import Registry
from .runs import RunDir
from .utils.io import atomic_open

FORMAT = "edgevision.model"
VERSION = 1
LOADERS: Registry = Registry("artifact kind")


@dataclass
class Artifact:
    """A loaded model with everything needed to run and describe it."""

    model: nn.Module
    arch: ArchSpec
    task: dict[str, Any]
    preprocess: dict[str, Any]
    path: Path
    meta: dict[str, Any] = field(default_factory=dict)
    card: dict[str, Any] = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        h, w = self.preprocess["input_size"]
        return (int(self.preprocess["channels"]), int(h), int(w))


def save_model(path: str | Path, model: nn.Module, *, task: dict[str, Any], preprocess: dict[str, Any],
               meta: dict[str, Any] | None = None) -> Path:
    """Write spec + state_dict + task + preprocessing atomically to ``path``."""
    payload = {"format": FORMAT, "version": VERSION, "arch": get_arch(model).to_dict(),
               "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()},
               "task": task, "preprocess": preprocess, "meta": meta or {}}
    with atomic_open(path, "wb") as f:
        torch.save(payload, f)
    return Path(path)


def _torch_load(path: Path) -> dict[str, Any]:
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ArtifactError(f"{path}: no such file") from None
    except Exception as e:
        raise ArtifactError(f"{path}: corrupt or not a PyTorch file ({cause_of(e)})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ArtifactError(f"{path}: not an edgevision model file (expected format {FORMAT!r})")
    if data.get("version") != VERSION:
        raise ArtifactError(f"{path}: model file version {data.get('version')} is not supported (expected {VERSION})")
    return data


@LOADERS.register(".pt")
def load_pt(path: Path) -> Artifact:
    data = _torch_load(path)
    try:
        arch = ArchSpec.from_dict(data["arch"])
        model = build_from_spec(arch)
        model.load_state_dict(data["state_dict"])
    except EdgevisionError:
        raise
    except (KeyError, RuntimeError, TypeError, ValueError) as e:
        raise ArtifactError(f"{path}: weights do not match the recorded architecture ({cause_of(e)})") from None
    model.eval()
    return Artifact(model, arch, data["task"], data["preprocess"], path, data.get("meta") or {})


def resolve(path: str | Path) -> Path:
    """Map a run folder to its artifact; check that files exist."""
    p = Path(path)
    if p.is_dir():
        return RunDir(p).artifact()
    if not p.exists():
        raise ArtifactError(f"{p}: no such file or run folder")
    return p


def load_artifact(path: str | Path) -> Artifact:
    """Load any artifact kind (``.pt`` here; ``.evz`` and ``.onnx`` when their stages are installed)."""
    p = resolve(path)
    loader: Callable[[Path], Artifact] | None = LOADERS.get(p.suffix) if p.suffix in LOADERS else None
    if loader is None:
        kinds = ", ".join(LOADERS.names())
        raise ArtifactError(f"{p}: unsupported artifact type {p.suffix!r}; expected one of {kinds}")
    art = loader(p)
    card_path = p.parent / "card.json"
    if card_path.exists() and not art.card:
        card = RunDir(p.parent).card()
        if card.get("artifact") == p.name:
            art.card = card
    return art
