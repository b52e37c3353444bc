"""On-device runtimes that run one file kind each: LiteRT (``.tflite``, :mod:`.litert_runtime`), ExecuTorch
(``.pte``, :mod:`.executorch`) and ncnn (``.ncnn.param``, :mod:`.ncnn`). One table, read by ``bench``,
``profile``, ``demo`` and ``export --format best``: each entry says how to run a file, how to wrap it as a module
(for accuracy), and how to convert a torch model to an fp32 file on the fly (which needs the converter, a larger
install than the runtime)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..artifacts import Artifact
from ..errors import ArtifactError
from ..models.base import ArchSpec

Run = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class FileRuntime:
    """One engine and its file kind."""

    engine: str  # the engine name of bench / profile / demo
    suffix: str  # the file kind it runs
    format: str  # the export format that writes it
    extra: str  # the optional extra that installs it
    runner: Callable[[Path, int], Run]  # (file, threads) -> run(x (B, C, H, W) float32) -> first output
    module: Callable[[Path], nn.Module]  # the file behind the module interface
    convert: Callable[[nn.Module, tuple[int, int, int], Path], Path]  # torch model -> fp32 file
    can_convert: Callable[[], bool]  # whether the converter is installed
    converter: str = ""  # the package that converts (litert-torch)
    companions: tuple[str, ...] = ()  # suffixes of the files that hold the rest of the model (ncnn's .bin)

    @property
    def install(self) -> str:
        return f"pip install 'edgevision[{self.extra}]'"

    def convert_hint(self) -> str:
        return f"converting to {self.suffix} needs {self.converter or self.extra} ({self.install})"


RUNTIMES: dict[str, FileRuntime] = {}


def register(rt: FileRuntime) -> FileRuntime:
    RUNTIMES[rt.engine] = rt
    return rt


def for_suffix(suffix: str) -> FileRuntime | None:
    """The runtime of a file kind (``.tflite``, ``.pte``), or None."""
    return next((r for r in RUNTIMES.values() if r.suffix == suffix), None)


def for_engine(engine: str) -> FileRuntime | None:
    return RUNTIMES.get(engine)


def suffixes() -> tuple[str, ...]:
    return tuple(r.suffix for r in RUNTIMES.values())


def file_bytes(path: Path) -> int:
    """Bytes on disk of a model file with the companions that hold the rest of it."""
    rt = for_suffix(path.suffix)
    extra = [path.with_suffix(s) for s in (rt.companions if rt else ())]
    return sum(p.stat().st_size for p in (path, *extra) if p.is_file())


class FileModule(nn.Module):
    """A file behind the module interface (``eval``, ``predict``, bench accuracy): :meth:`make_runner` builds its
    runner on first use; copies build their own (runtimes' loaded programs are not copyable)."""

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        super().__init__()
        self.path, self.threads = Path(path), threads
        self._run: Run | None = None

    def make_runner(self) -> Run:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._run is None:
            self._run = self.make_runner()
        return torch.from_numpy(self._run(x.detach().float().cpu().numpy()))

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_run"] = None
        return state


def file_artifact(path: Path, meta: dict[str, Any], model: nn.Module, fmt: str, hint: str = "") -> Artifact:
    """An exported file as an :class:`Artifact`, from the metadata it carries (one line when it has none)."""
    missing = [k for k in ("arch", "task", "preprocess") if k not in meta]
    if missing:
        raise ArtifactError(f"{path}: not an edgevision export (metadata {', '.join(missing)} missing); edgevision "
                            f"runs the files that `edgevision export --format {fmt}` writes from a model{hint}")
    art_meta = {**dict(meta.get("meta") or {}), "precision": str(meta.get("precision", "fp32")),
                "source": meta.get("source")}
    return Artifact(model, ArchSpec.from_dict(meta["arch"]), meta["task"], meta["preprocess"], path, art_meta)
