"""Pretrained weights of ``timm:`` and ``torchvision:`` references, from the libraries' own caches only.

Nothing is downloaded at run time: ``--model-kwargs pretrained=true`` loads the weights when this machine already
has them where the library keeps them (timm: the Hugging Face hub cache, ``HF_HOME``; torchvision: torch hub's
``checkpoints`` folder, ``TORCH_HOME``), and is one line naming that place otherwise. With a ``num_classes`` other
than the weights' own, every tensor whose shape fits is loaded and the classifier starts fresh.

The weights become the model's own: an artifact stores them in its ``state_dict``, so it reloads without the cache
(:func:`edgevision.models.base.build_from_spec` builds the architecture with ``pretrained`` off).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ..errors import ConfigError, cause_of

NOT_CACHED = "pretrained weights are not in this machine's {where}; nothing is downloaded at run time: put them " \
             "there (the library's own download, on a machine with internet), or train with --weights FILE"


HEAD_TENSORS = 2  # the classifier's weight and bias: what another num_classes may leave unloaded


@contextlib.contextmanager
def hub_offline() -> Iterator[None]:
    """Hugging Face hub in offline mode (cache only) for the duration."""
    old = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    consts: Any = None
    with contextlib.suppress(ImportError):
        from huggingface_hub import constants as consts  # read at call time by recent hub versions
    saved = getattr(consts, "HF_HUB_OFFLINE", None)
    if consts is not None:
        consts.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = old
        if consts is not None:
            consts.HF_HUB_OFFLINE = saved


def timm_pretrained(create: Callable[..., Any], name: str, ref: str, **kwargs: Any) -> Any:
    """``timm.create_model(name, pretrained=True, ...)`` from the hub cache (timm adapts the classifier and the
    input channels itself)."""
    try:
        with hub_offline():
            return create(name, pretrained=True, **kwargs)
    except Exception as e:  # offline, the usual cause is a cache miss; the library's own reason is kept
        where = "Hugging Face cache (HF_HOME, default ~/.cache/huggingface), or timm could not use them"
        raise ConfigError(f"model reference {ref!r}: {NOT_CACHED.format(where=where)} ({cause_of(e)[:160]})") from None


def checkpoint_path(models: Any, name: str) -> tuple[Path, Any]:
    """Where torch hub keeps the default weights of torchvision model ``name``, and those weights."""
    import torch

    weights = models.get_model_weights(name).DEFAULT
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(weights.url).path).name, weights


def torchvision_checkpoint(models: Any, name: str, ref: str) -> tuple[Path, Any]:
    """The cached file of the default weights of torchvision model ``name`` and those weights (or one line)."""
    path, weights = checkpoint_path(models, name)
    if not path.is_file():
        raise ConfigError(f"model reference {ref!r}: {NOT_CACHED.format(where=f'torch hub cache ({path})')}")
    return path, weights


def torchvision_pretrained(models: Any, name: str, ref: str, num_classes: int, **kwargs: Any) -> Any:
    """The torchvision model with its cached default weights; a different ``num_classes`` keeps a fresh head."""
    import torch

    path, weights = torchvision_checkpoint(models, name, ref)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ConfigError(f"model reference {ref!r}: cannot read the cached weights {path} ({cause_of(e)})") from None
    model = models.get_model(name, weights=None, num_classes=num_classes, **kwargs)
    own = model.state_dict()
    fits = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    left = [k for k in own if k not in fits]
    head = 0 if len(weights.meta.get("categories", [])) == num_classes else HEAD_TENSORS
    if len(left) > head:  # beyond a classifier resized for num_classes: another architecture's file
        raise ConfigError(f"model reference {ref!r}: the cached weights {path} do not match the architecture "
                          f"({len(left)} of {len(own)} tensors, e.g. {', '.join(left[:3])})")
    model.load_state_dict(fits, strict=False)
    return model
