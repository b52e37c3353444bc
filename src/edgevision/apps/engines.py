"""Inference engines for the live apps: one call ``run(x (B, C, H, W) float32) -> raw output (NumPy)``.

- ``torch``: the artifact's own module (``.pt``, ``.evz``), under ``inference_mode`` with ``threads`` intra-op
  threads;
- ``onnxruntime``: an ``.onnx`` artifact as is; a torch artifact is exported once to a temporary ONNX file first
  (``deploy.onnx.export_onnx``), so every artifact kind runs in every engine;
- ``cv2``: OpenCV's ``cv2.dnn`` on the same ONNX file, after the Unsqueeze→Reshape rewrite OpenCV needs
  (``deploy.export.cv2_compatible``). OpenCV may abort the process on a graph it misreads, so the file is
  probed in a child process first (``deploy.export.cv2_outputs``) and a failure becomes a one-line error;
- ``openvino`` (its extra): an ``.xml`` IR at its precision, or the ONNX graph converted;
- ``litert``, ``executorch`` and ``ncnn`` (their extras): a ``.tflite`` file in LiteRT's interpreter, a ``.pte``
  program in ExecuTorch, an ncnn ``.param`` model, or a torch artifact converted to one first (when the converter
  is installed).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..artifacts import Artifact
from ..deploy import openvino as ovx
from ..deploy import runtimes
from ..deploy.export import cv2_compatible, cv2_outputs
from ..deploy.onnx import cv2_net, cv2_run, export_onnx, ort_session
from ..errors import ConfigError, EdgevisionError

ENGINES = ("auto", "torch", "onnxruntime", "cv2", "openvino", "litert", "executorch", "ncnn")
Runner = Callable[[np.ndarray], np.ndarray]


@dataclass
class Engine:
    """A ready engine: ``name``, ``threads`` and ``run``; ``close()`` removes a temporary ONNX file."""

    name: str
    threads: int
    run: Runner
    onnx_path: Path | None = None
    _tmp: Path | None = field(default=None, repr=False)

    def close(self) -> None:
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None


def is_onnx(art: Artifact) -> bool:
    return art.path.suffix == ".onnx"


def is_ir(art: Artifact) -> bool:
    return art.path.suffix == ".xml"


def resolve_engine(art: Artifact, engine: str) -> str:
    """``auto`` → torch for ``.pt``/``.evz``, onnxruntime for ``.onnx``, openvino for ``.xml``, litert for
    ``.tflite``, executorch for ``.pte``; torch refuses an ONNX artifact, and an IR, a ``.tflite`` or a ``.pte``
    runs in its own engine only."""
    if engine not in ENGINES:
        raise ConfigError(f"engine {engine!r}: expected one of {', '.join(ENGINES)}")
    own = runtimes.for_suffix(art.path.suffix)
    if engine == "auto":
        return "openvino" if is_ir(art) else own.engine if own else "onnxruntime" if is_onnx(art) else "torch"
    if is_ir(art) and engine != "openvino":
        raise ConfigError(f"{art.path}: an OpenVINO IR runs with --engine openvino only (not {engine})")
    if own and engine != own.engine:
        raise ConfigError(f"{art.path}: a {own.suffix} file runs with --engine {own.engine} only (not {engine})")
    rt = runtimes.for_engine(engine)
    if rt and is_onnx(art):
        raise ConfigError(f"{art.path}: engine {engine} runs {rt.suffix} files and torch artifacts (.pt, .evz), not "
                          f".onnx; export one with `edgevision export --format {rt.format}`")
    if engine == "torch" and is_onnx(art):
        raise ConfigError(f"{art.path}: engine torch needs a .pt or .evz artifact; run an .onnx file with "
                          f"--engine onnxruntime or --engine cv2")
    return engine


def make_engine(art: Artifact, engine: str = "auto", threads: int = 1) -> Engine:
    """Build the engine ``engine`` for ``art`` with ``threads`` threads (see the module doc)."""
    name = resolve_engine(art, engine)
    threads = max(1, int(threads))
    if name == "torch":
        return Engine(name, threads, _torch_runner(art.model, threads))
    if name == "openvino" and is_ir(art):
        return Engine(name, threads, _ov_runner(art.path, threads, str(art.meta.get("precision", "fp32"))))
    if rt := runtimes.for_engine(name):
        return _file_engine(rt, art, threads)
    tmp = None
    path = art.path
    if not is_onnx(art) or name == "cv2":
        tmp = Path(tempfile.mkdtemp(prefix="edgevision-demo-"))
        path = _onnx_copy(art, tmp / "model.onnx", for_cv2=name == "cv2")
    try:
        run = (_ort_runner(path, threads) if name == "onnxruntime" else _ov_runner(ovx.convert(path), threads, "fp32")
               if name == "openvino" else _cv2_runner(path, threads, art.input_shape))
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Engine(name, threads, run, path, tmp)


def _file_engine(rt: runtimes.FileRuntime, art: Artifact, threads: int) -> Engine:
    """A ``.tflite`` / ``.pte`` artifact as is; a torch artifact converted once to a temporary fp32 file."""
    if art.path.suffix == rt.suffix:
        return Engine(rt.engine, threads, rt.runner(art.path, threads))
    if not rt.can_convert():
        raise ConfigError(f"--engine {rt.engine} on {art.path.name}: {rt.convert_hint()}, or export it once with "
                          f"`edgevision export --format {rt.format}`")
    tmp = Path(tempfile.mkdtemp(prefix="edgevision-demo-"))
    try:
        path = rt.convert(art.model, art.input_shape, tmp / f"model{rt.suffix}")
        return Engine(rt.engine, threads, rt.runner(path, threads), None, tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _torch_runner(model: torch.nn.Module, threads: int) -> Runner:
    torch.set_num_threads(threads)
    model = model.eval()

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = model(torch.from_numpy(x))
        out = out[0] if isinstance(out, tuple | list) else out
        return out.float().numpy()

    return run


def _onnx_copy(art: Artifact, dst: Path, for_cv2: bool) -> Path:
    """The artifact as an ONNX file at ``dst``: exported from torch, or copied from an ``.onnx`` artifact."""

    if is_onnx(art):
        shutil.copyfile(art.path, dst)
    else:
        export_onnx(art.model, dst, art.input_shape, dynamic_batch=True)
    if for_cv2:
        cv2_compatible(dst)
    return dst


def _ort_runner(path: Path, threads: int) -> Runner:

    sess = ort_session(path, threads)
    name = sess.get_inputs()[0].name
    return lambda x: np.asarray(sess.run(None, {name: x})[0], np.float32)


def _ov_runner(model: object, threads: int, precision: str) -> Runner:
    run = ovx.runner(model, threads, precision)
    return lambda x: np.asarray(run(x)[0], np.float32)


def _cv2_runner(path: Path, threads: int, shape: tuple[int, int, int]) -> Runner:

    _, err = cv2_outputs(path, np.zeros((1, *shape), np.float32), timeout=120)
    if err is not None:
        raise EdgevisionError(f"this model does not run in cv2.dnn ({err}); use --engine onnxruntime or torch")
    net = cv2_net(path, threads)
    return lambda x: np.asarray(cv2_run(net, x), np.float32)
