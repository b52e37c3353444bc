"""``export --format executorch``: ExecuTorch ``.pte`` programs with the XNNPACK delegate, their runtime and loader.

ExecuTorch is PyTorch's own on-device runtime, an optional extra (``pip install 'edgevision[executorch]'``:
executorch 1.5.1, beside torch 2.13 CPU). The graph is captured with ``torch.export`` at batch 1 (a ``.pte`` has
static shapes) with NCHW float input, lowered with ``to_edge_transform_and_lower`` and the XNNPACK partitioner (the
CPU backend of phones and boards), and run with ExecuTorch's Python runtime.

- ``model.pte`` (fp32): checked by ``max |pte − torch| / max |torch| ≤ rtol``.
- ``model.int8.pte``: PT2E int8 (``prepare_pt2e`` with ExecuTorch's ``XNNPACKQuantizer``, symmetric per-channel
  weights and per-tensor activations, calibrated on ``calib_samples`` train images, ``convert_pt2e``), after
  Jacob et al. (2018): ``q = clamp(round(x / s) + z, −128, 127)``; its input and output stay float. Checked by
  top-1 agreement ≥ ``min_agreement``.

Every program also carries a constant method :data:`META_METHOD` returning edgevision's metadata as a JSON string
(task, class names, preprocessing, architecture spec, precision), so a ``.pte`` is an artifact: ``eval``,
``predict``, ``demo``, ``profile`` and ``bench`` run it alone.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..artifacts import LOADERS, Artifact
from ..errors import ArtifactError, ConfigError, EdgevisionError, cause_of
from ..utils.io import write_bytes
from ..utils.quiet import quiet
from ..utils.text import one_line
from .device_export import export_files
from .export import EXPORTERS, ExportFormat, ExportJob
from .runtimes import FileModule, FileRuntime, file_artifact, register

INSTALL = "pip install 'edgevision[executorch]'"
META_METHOD = "edgevision_meta"


def available() -> bool:
    """True when ExecuTorch is installed (checked without importing it)."""
    return importlib.util.find_spec("executorch") is not None


def _require() -> None:
    if not available():
        raise ConfigError(f"executorch is not installed (the executorch extra); install it with: {INSTALL}")


def _lower(program: Any, meta: dict[str, Any] | None) -> bytes:
    """An exported program lowered to XNNPACK, with the metadata method, as ``.pte`` bytes (called quietly)."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    methods = {META_METHOD: json.dumps(meta)} if meta is not None else None
    edge = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()], constant_methods=methods)
    return bytes(edge.to_executorch().buffer)


def convert_fp32(model: nn.Module, shape: tuple[int, int, int], path: Path, meta: dict[str, Any] | None = None
                 ) -> Path:
    """``model`` as an fp32 ``.pte`` at ``path`` (atomic)."""
    _require()
    try:
        with quiet(native=True), torch.no_grad():
            data = _lower(torch.export.export(model.eval(), (torch.zeros(1, *shape),)), meta)
    except Exception as e:
        raise EdgevisionError(f"ExecuTorch cannot convert the model ({one_line(cause_of(e))[:300]})") from None
    return write_bytes(path, data)


def convert_int8(model: nn.Module, shape: tuple[int, int, int], calib: np.ndarray, path: Path,
                 meta: dict[str, Any] | None = None) -> Path:
    """PT2E int8 with ExecuTorch's XNNPACK quantizer, calibrated on ``calib`` (N, C, H, W)."""
    _require()
    x = (torch.zeros(1, *shape),)
    try:
        with quiet(native=True), torch.no_grad():
            from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
                XNNPACKQuantizer,
                get_symmetric_quantization_config,
            )
            from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

            quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
            prepared = prepare_pt2e(torch.export.export(model.eval(), x).module(), quantizer)
            for i in range(len(calib)):
                prepared(torch.from_numpy(calib[i:i + 1]))
            data = _lower(torch.export.export(convert_pt2e(prepared), x), meta)
    except Exception as e:
        raise EdgevisionError(f"ExecuTorch cannot quantize the model ({one_line(cause_of(e))[:300]})") from None
    return write_bytes(path, data)


IDENTIFIER = b"ET"  # a program's flatbuffer identifier at bytes 4-8: "ET" and a two-digit schema version ("ET12")
# the runtime's error codes (executorch/runtime/core/error.h) that a damaged or foreign file gives when it loads
LOAD_ERRORS = {0x12: "invalid argument", 0x13: "invalid type", 0x20: "not found", 0x22: "access failed",
               0x23: "invalid program", 0x24: "invalid external data"}


def _check_header(path: Path) -> None:
    """One line for a file that is no ExecuTorch program at all (a text file renamed ``.pte``, an empty file)."""
    try:
        with Path(path).open("rb") as f:
            head = f.read(8)
    except OSError as e:
        raise ArtifactError(f"{path}: cannot read it ({e.strerror or e})") from None
    if len(head) < 8 or head[4:6] != IDENTIFIER:
        raise ArtifactError(f"{path}: not a readable ExecuTorch program (no {IDENTIFIER.decode()}.. identifier in "
                            f"its header; a .pte comes from `edgevision export --format executorch`)")


def load_failure(path: Path, err: BaseException) -> str:
    """``<path>: not a readable ExecuTorch program (<why>)``, the runtime's numeric code named in words."""
    why = one_line(cause_of(err))[:200]
    if (m := re.search(r"error: 0x:?([0-9a-fA-F]+)", why)) is not None:
        code = int(m.group(1), 16)
        why = f"the runtime rejects it: {LOAD_ERRORS.get(code, 'error')} (code 0x{code:02x})"
    return f"{path}: not a readable ExecuTorch program ({why})"


def _program(path: Path) -> Any:
    _require()
    _check_header(path)
    try:
        with quiet(native=True):  # importing it logs torchao's missing CUDA kernels, and it logs its CPU probing
            from executorch.runtime import Runtime

            return Runtime.get().load_program(Path(path))
    except Exception as e:  # the runtime raises RuntimeError / ValueError with its own text
        raise ArtifactError(load_failure(path, e)) from None


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The program's edgevision metadata (``{}`` for a program edgevision did not write)."""
    prog = _program(Path(path))
    if META_METHOD not in prog.method_names:
        return {}
    try:
        return json.loads(prog.load_method(META_METHOD).execute([])[0])
    except (ValueError, TypeError, IndexError, RuntimeError) as e:
        raise ArtifactError(f"{path}: unreadable edgevision metadata ({one_line(cause_of(e))[:160]})") from None


class Runner:
    """``run(x (B, C, H, W) float32) -> first output (B, ...) float32`` in ExecuTorch (XNNPACK), one sample at a
    time (the program's batch is 1).

    ``threads`` sizes XNNPACK's thread pool, which the whole process shares. Resizing it replaces the pool, and a
    method loaded before holds on to the old one (running it then corrupts memory), so every resize bumps
    :data:`_POOL` ``["generation"]`` and a runner whose method is older loads it again before it runs."""

    def __init__(self, path: str | Path, threads: int | None = 1) -> None:
        self.path, self.threads = Path(path), int(threads or 1)
        _program(self.path)  # a missing extra or an unreadable file fails here, in one line
        self._load()

    def _load(self) -> None:
        _pool_size(self.threads)
        self.method, self.generation = _load_forward(self.path), _POOL["generation"]

    def _one(self, x: np.ndarray) -> np.ndarray:
        return self.method.execute([torch.from_numpy(x)])[0].numpy().copy()  # the output lives in planned memory

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.generation != _POOL["generation"] or _POOL["threads"] != self.threads:
            self._load()
        x = np.ascontiguousarray(x, np.float32)
        return np.concatenate([self._one(x[i:i + 1]) for i in range(len(x))])


_POOL: dict[str, int] = {"generation": 0, "threads": 0}


def _pool_size(threads: int) -> None:
    """Size XNNPACK's shared thread pool to ``threads`` (a new pool: loaded methods must be loaded again)."""
    with quiet(native=True):  # the pool logs its CPU probing and every resize on stderr
        from executorch.extension.pybindings import portable_lib

        if portable_lib._threadpool_get_thread_count() != threads or _POOL["threads"] != threads:
            portable_lib._unsafe_reset_threadpool(threads)
            _POOL.update(generation=_POOL["generation"] + 1, threads=threads)


def _load_forward(path: Path) -> Any:
    prog = _program(path)
    try:
        with quiet(native=True):
            return prog.load_method("forward")
    except Exception as e:
        raise ArtifactError(f"{path}: ExecuTorch cannot load its forward method ({one_line(cause_of(e))[:200]})"
                            ) from None


class ExecuTorchModule(FileModule):
    """Runs a ``.pte`` in ExecuTorch behind the module interface (``eval``, ``predict``, bench accuracy)."""

    def make_runner(self) -> Runner:
        return Runner(self.path, self.threads or torch.get_num_threads())


@LOADERS.register(".pte", description="an ExecuTorch program written by `edgevision export --format executorch`")
def load_pte(path: Path) -> Artifact:
    """Load an exported ``.pte`` as an :class:`Artifact` whose ``model`` runs in ExecuTorch."""
    art = file_artifact(path, read_metadata(path), ExecuTorchModule(path), "executorch")
    _load_forward(path)
    return art


# ---------------------------------------------------------------------------------------------- export
def _pte(job: ExportJob) -> list[dict[str, Any]]:
    _require()
    return export_files(job, RUNTIME, convert_fp32, convert_int8)


EXPORTERS.register("executorch", ExportFormat(
    ".pte", frozenset({"int8"}), _pte, "ExecuTorch program with the XNNPACK delegate, fp32 and PT2E int8",
    extra="executorch", available=lambda: available(), settings=frozenset({"calib_samples"})))


def _convert(model: nn.Module, shape: tuple[int, int, int], path: Path) -> Path:
    return convert_fp32(model, shape, path)


RUNTIME = register(FileRuntime("executorch", ".pte", "executorch", "executorch", Runner, ExecuTorchModule, _convert,
                               lambda: available(), "executorch"))
