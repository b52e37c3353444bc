"""Saving and loading models.

``model.pt`` is a ``torch.save`` of plain data only — the architecture spec, the ``state_dict``, the task and
the preprocessing — so it loads with ``torch.load(weights_only=True)`` and never unpickles code. torch stores
tensors uncompressed and does not check the zip's CRCs, so a damaged byte would silently change a weight: the
file also holds ``checksum``, a SHA-256 of everything else (:func:`payload_digest`), verified on load (files
written before it existed have none and load as before). Loaders for
other artifact kinds (``.evz``, ``.onnx``) register in :data:`LOADERS` by suffix. A run folder resolves to the
artifact its card names.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import shipped
from .errors import ArtifactError, ConfigError, EdgevisionError, cause_of
from .models.base import ArchSpec, build_from_spec, get_arch
from .registry import Registry
from .runs import RunDir
from .utils.io import atomic_open, to_jsonable

FORMAT = "edgevision.model"
VERSION = 2  # 2: with a checksum (required); 1: written before checksums, still loadable
LOADERS: Registry = Registry("artifact kind", builtins=("edgevision.compress.evz", "edgevision.deploy"),
                             plural="loaders")


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


HEAD_KEYS = ("format", "version", "arch", "task", "preprocess", "meta")


def _tensor_bytes(t: Any) -> bytes:
    if not isinstance(t, torch.Tensor):
        return repr(t).encode()
    t = t.detach().cpu()
    t = t.int_repr() if t.is_quantized else t
    return t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def payload_digest(payload: dict[str, Any]) -> str:
    """SHA-256 of a model file's contents: the canonical JSON of its head (format … meta), then every state-dict
    entry in name order as name, dtype, shape and raw bytes."""
    h = hashlib.sha256(json.dumps(to_jsonable({k: payload.get(k) for k in HEAD_KEYS}), sort_keys=True,
                                  default=str).encode())
    for name in sorted(payload["state_dict"]):
        t = payload["state_dict"][name]
        h.update(f"\0{name}\0{getattr(t, 'dtype', '')}\0{tuple(getattr(t, 'shape', ()))}\0".encode())
        h.update(_tensor_bytes(t))
    return h.hexdigest()


def save_model(path: str | Path, model: nn.Module, *, task: dict[str, Any], preprocess: dict[str, Any],
               meta: dict[str, Any] | None = None) -> Path:
    """Write spec + state_dict + task + preprocessing (and their checksum) atomically to ``path``."""
    payload = {"format": FORMAT, "version": VERSION, "arch": get_arch(model).to_dict(),
               "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()},
               "task": task, "preprocess": preprocess, "meta": meta or {}}
    payload["checksum"] = payload_digest(payload)
    with atomic_open(path, "wb") as f:
        torch.save(payload, f)
    return Path(path)


def _torch_load(path: Path) -> dict[str, Any]:
    try:
        with warnings.catch_warnings():  # a damaged file makes torch warn (odd pickle protocols): one error line
            warnings.simplefilter("ignore")
            data = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ArtifactError(f"{path}: no such file") from None
    except Exception as e:
        raise ArtifactError(f"{path}: corrupt or not a PyTorch file ({cause_of(e)})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ArtifactError(f"{path}: not an edgevision model file (expected format {FORMAT!r})")
    if data.get("version") not in (1, VERSION):
        raise ArtifactError(f"{path}: model file version {data.get('version')} is not supported (expected {VERSION})")
    if data.get("version") == VERSION or "checksum" in data:
        _verify(path, data)
    return data


def _verify(path: Path, data: dict[str, Any]) -> None:
    try:
        ok = isinstance(data["state_dict"], dict) and payload_digest(data) == data["checksum"]
    except Exception:  # a damaged structure (a state dict that is not one, odd types): as damaged as a mismatch
        ok = False
    if not ok:
        raise ArtifactError(f"{path}: damaged file: its contents do not match the checksum saved with it "
                            f"(restore it from a copy, or re-create it)")


@LOADERS.register(".pt", description="architecture spec + state_dict (torch.load with weights_only=True)")
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
        if shipped.looks_like_name(str(path)):
            return shipped.require(str(path))
        raise ArtifactError(f"{p}: no such file or run folder")
    return p


def load_artifact(path: str | Path, description: dict[str, Any] | None = None) -> Artifact:
    """Load any artifact kind (``.pt`` here; ``.evz`` and ``.onnx`` when their stages are installed).

    ``description`` (``input_size``, ``mean``, ``std``, ``task``, ``classes``, ...) describes a foreign file to a
    loader that takes one (``.onnx``); the other kinds record their own preprocessing, so it is refused there.
    """
    p = resolve(path)
    loader: Callable[[Path], Artifact] | None = LOADERS.get(p.suffix) if p.suffix in LOADERS else None
    if loader is None:
        kinds = ", ".join(LOADERS.names())
        raise ArtifactError(f"{p}: unsupported artifact type {p.suffix!r}; expected one of {kinds}")
    if description and "description" not in inspect.signature(loader).parameters:
        flags = ", ".join("--" + k.replace("_", "-") for k in description)
        raise ConfigError(f"{p}: {flags} describe foreign ONNX files; a {p.suffix} artifact records its own "
                          f"preprocessing and task: drop them")
    art = loader(p, description=description) if description else loader(p)
    card_path = p.parent / "card.json"
    if shipped.is_shipped(p):
        art.card = {**art.card, **shipped.card_of(p)}
    elif card_path.exists() and not art.card:
        card = RunDir(p.parent).card()
        if card.get("artifact") == p.name:
            art.card = card
    return art
