"""Inference engines for the live apps: one call ``run(x (B, C, H, W) float32) -> raw output (NumPy)``.

- ``torch``: the artifact's own module (``.pt``, ``.evz``), under ``inference_mode`` with ``threads`` intra-op
  threads;
- ``onnxruntime``: an ``.onnx`` artifact as is; a torch artifact is exported once to a temporary ONNX file first
  (``deploy.onnx.export_onnx``), so every artifact kind runs in every engine;
- ``cv2``: OpenCV's ``cv2.dnn`` on the same ONNX file, after the Unsqueeze→Reshape rewrite OpenCV needs
  (``deploy.export.cv2_compatible``). OpenCV may abort the process on a graph it misreads, so the file is
  probed in a child process first (``deploy.export.cv2_outputs``) and a failure becomes a one-line error;
- ``openvino`` (its extra): an ``.xml`` IR at its precision, or the ONNX graph converted;
- ``litert`` (its extra): a ``.tflite`` file in LiteRT's interpreter, or a torch artifact converted to one first
  (litert-torch).
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
from ..deploy import litert
from ..deploy import openvino as ovx
from ..deploy.export import cv2_compatible, cv2_outputs
from ..deploy.litert_runtime import Runner as LiteRTRunner
from ..deploy.onnx import cv2_net, cv2_run, export_onnx, ort_session
from ..errors import ConfigError, EdgevisionError

ENGINES = ("auto", "torch", "onnxruntime", "cv2", "openvino", "litert")
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


def is_tflite(art: Artifact) -> bool:
    return art.path.suffix == ".tflite"


def resolve_engine(art: Artifact, engine: str) -> str:
    """``auto`` → torch for ``.pt``/``.evz``, onnxruntime for ``.onnx``, openvino for ``.xml``, litert for
    ``.tflite``; torch refuses an ONNX artifact, an IR runs in openvino only and a ``.tflite`` in litert only."""
    if engine not in ENGINES:
        raise ConfigError(f"engine {engine!r}: expected one of {', '.join(ENGINES)}")
    if engine == "auto":
        return "openvino" if is_ir(art) else "litert" if is_tflite(art) else "onnxruntime" if is_onnx(art) \
            else "torch"
    if is_ir(art) and engine != "openvino":
        raise ConfigError(f"{art.path}: an OpenVINO IR runs with --engine openvino only (not {engine})")
    if is_tflite(art) and engine != "litert":
        raise ConfigError(f"{art.path}: a .tflite file runs with --engine litert only (not {engine})")
    if engine == "litert" and is_onnx(art):
        raise ConfigError(f"{art.path}: engine litert runs .tflite files and torch artifacts (.pt, .evz), not .onnx; "
                          f"export one with `edgevision export --format tflite`")
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
    if name == "litert":
        return _litert_engine(art, threads)
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


def _litert_engine(art: Artifact, threads: int) -> Engine:
    """A ``.tflite`` artifact as is; a torch artifact converted once to a temporary fp32 file (litert-torch)."""
    if is_tflite(art):
        return Engine("litert", threads, LiteRTRunner(art.path, threads))
    if not litert.available():
        raise ConfigError(f"--engine litert on {art.path.name}: converting it to .tflite needs litert-torch; install "
                          f"it with: {litert.INSTALL} (or export it once with `edgevision export --format tflite`)")
    tmp = Path(tempfile.mkdtemp(prefix="edgevision-demo-"))
    try:
        path = litert.convert_fp32(art.model, art.input_shape, tmp / "model.tflite")
        return Engine("litert", threads, LiteRTRunner(path, threads), None, tmp)
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
