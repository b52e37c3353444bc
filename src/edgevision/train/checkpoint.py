"""Atomic checkpoints: ``last.pt`` (everything needed to resume) and ``best.pt`` (weights of the best epoch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..errors import ArtifactError, cause_of
from ..utils.io import atomic_open


def save(path: Path, payload: dict[str, Any]) -> None:
    """``torch.save`` to a temporary file, fsync, rename: a kill mid-write never leaves a torn checkpoint."""
    with atomic_open(path, "wb") as f:
        torch.save(payload, f)


def load(path: Path) -> dict[str, Any]:
    """Load with ``weights_only=True``; a corrupt file is a one-line ArtifactError."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ArtifactError(f"{path}: no checkpoint to resume from") from None
    except Exception as e:
        raise ArtifactError(f"{path}: corrupt checkpoint ({cause_of(e)})") from None
