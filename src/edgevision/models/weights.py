"""Plain checkpoints: a ``state_dict`` in a ``.pt`` / ``.pth`` file or a ``.safetensors`` file, loaded into a model.

``.pt`` / ``.pth`` / ``.bin`` are read with ``torch.load(weights_only=True)``, so they never run code: a file
holding a pickled module is refused with the advice to save ``model.state_dict()``. Accepted layouts: a state
dict itself, one nested under ``state_dict`` / ``model`` / ``model_state_dict`` / ``state_dict_ema`` (training
checkpoints), or an edgevision model file. A ``module.`` prefix on every key (``DataParallel``) is dropped.

Names and shapes are compared with the model's own tensors. Any missing, unexpected or differently shaped tensor
is an error that counts each kind and names the first ones, unless ``strict`` is off: then the matching tensors
load, the rest keep their initialization, and the report says how many.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from ..errors import ArtifactError, ConfigError, cause_of

NESTED = ("state_dict", "model", "model_state_dict", "state_dict_ema")
SUFFIXES = (".pt", ".pth", ".bin", ".safetensors")


@dataclass(frozen=True)
class WeightsReport:
    """What loading a checkpoint did: tensors loaded, and the names that did not match."""

    path: str
    loaded: int
    missing: list[str]
    unexpected: list[str]
    reshaped: list[str]  # in both, with another shape

    @property
    def exact(self) -> bool:
        return not (self.missing or self.unexpected or self.reshaped)

    def summary(self) -> str:
        parts = [f"{len(names)} {kind} ({_first(names)})" for kind, names in
                 (("missing", self.missing), ("unexpected", self.unexpected), ("of another shape", self.reshaped))
                 if names]
        return f"{self.loaded} tensors loaded" + (f"; {', '.join(parts)}" if parts else "")

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "loaded": self.loaded, "missing": len(self.missing),
                "unexpected": len(self.unexpected), "reshaped": len(self.reshaped)}


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint file, by name (no code is run)."""
    p = Path(path)
    if not p.is_file():
        raise ArtifactError(f"weights {p}: no such file")
    if p.suffix not in SUFFIXES:
        raise ArtifactError(f"weights {p}: unsupported suffix {p.suffix!r}; expected one of {', '.join(SUFFIXES)}")
    data = _safetensors(p) if p.suffix == ".safetensors" else _torch(p)
    for key in NESTED:
        if isinstance(data, dict) and isinstance(data.get(key), dict) and not _tensors(data):
            data = data[key]
            break
    if not isinstance(data, dict) or not data or not _tensors(data):
        raise ArtifactError(f"weights {p}: expected a state_dict (a mapping of names to tensors), found "
                            f"{type(data).__name__} without tensors; save it with torch.save(model.state_dict(), f)")
    state = {k: v for k, v in data.items() if isinstance(v, torch.Tensor)}
    if all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def load_weights(model: nn.Module, path: str | Path, strict: bool = True) -> WeightsReport:
    """Copy the checkpoint's same-named, same-shaped tensors into ``model``; mismatches raise when ``strict``."""
    state = read_state_dict(path)
    own = model.state_dict()
    report = WeightsReport(str(path), sum(k in own and own[k].shape == v.shape for k, v in state.items()),
                           sorted(set(own) - set(state)), sorted(set(state) - set(own)),
                           sorted(k for k in state if k in own and own[k].shape != state[k].shape))
    if strict and not report.exact:
        raise ConfigError(f"weights {path} do not match the model: {report.summary()}; pass --weights-strict false "
                          f"to load the {report.loaded} matching tensors")
    if report.loaded == 0:
        raise ConfigError(f"weights {path}: no tensor matches the model's names and shapes ({report.summary()})")
    take = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict({**own, **{k: v.to(own[k].dtype) for k, v in take.items()}})
    return report


def _torch(p: Path) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ArtifactError(f"weights {p}: not a plain state_dict that loads without running code ({cause_of(e)}); "
                            f"save it with torch.save(model.state_dict(), f)") from None
    if isinstance(data, dict) and data.get("format") == "edgevision.model":
        return data["state_dict"]
    return data


def _safetensors(p: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(p), device="cpu")
    except (SafetensorError, OSError, ValueError) as e:
        raise ArtifactError(f"weights {p}: not a readable .safetensors file ({cause_of(e)})") from None


def _tensors(d: dict[str, Any]) -> bool:
    return any(isinstance(v, torch.Tensor) for v in d.values())


def _first(names: list[str], n: int = 3) -> str:
    return ", ".join(names[:n]) + (", …" if len(names) > n else "")
