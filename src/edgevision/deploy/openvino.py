"""OpenVINO: IR files (``.xml`` + ``.bin``), their runtime, the ``.xml`` artifact loader and NNCF int8.

OpenVINO is an optional extra (``pip install 'edgevision[openvino]'``): nothing here imports it before it is
used, and a missing extra is one line naming the install command (:func:`require`).

- An IR comes from the exported ONNX file (``openvino.convert_model``) and carries the same self-describing
  metadata as the ``.onnx`` export, as one JSON string in its ``rt_info`` under ``edgevision/meta``.
- Precisions: ``fp32`` (fp32 weights, ``INFERENCE_PRECISION_HINT=f32``); ``bf16`` (fp16 weight storage,
  compiled with the ``bf16`` compute hint, which the CPU plugin honours only on CPUs with AVX-512-BF16 or AMX
  and otherwise runs in f32); ``int8`` (NNCF post-training quantization: FakeQuantize nodes calibrated on real
  training images, then executed with the plugin's int8 kernels).
- NNCF int8 follows Jacob et al. (2018), *Quantization and Training of Neural Networks for Efficient
  Integer-Arithmetic-Only Inference*: ``q = clamp(round(x / s) + z, 0, 255)``, ``x̂ = s (q − z)``, with ranges from
  the calibration set (min/max of activations, per-channel symmetric weights). When int8 misses the agreement
  bar, :func:`quantize_int8` falls back to NNCF's accuracy-aware quantization, which ranks the quantized layers
  by their effect on the metric and reverts the most sensitive to float until the drop is within bounds.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import logging
import os
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..artifacts import LOADERS, Artifact
from ..errors import ArtifactError, ConfigError, EdgevisionError, cause_of
from ..models.base import ArchSpec
from ..utils.io import temp_dir_beside, to_jsonable
from ..utils.text import one_line
from . import telemetry
from .int8.graph import agreement
from .sigstack import keep_signal_stack

INSTALL = "pip install 'edgevision[openvino]'"
META_PATH = ["edgevision", "meta"]
PRECISION_HINTS = {"fp32": "f32", "bf16": "bf16"}  # int8 files keep the plugin's default for their float parts


def available() -> bool:
    """True when the ``openvino`` extra is installed (checked without importing it)."""
    return importlib.util.find_spec("openvino") is not None


def require(what: str = "openvino") -> Any:
    """Import and return ``openvino`` (or ``nncf``); a missing extra is a ConfigError naming the install command."""
    if importlib.util.find_spec(what) is None:
        raise ConfigError(f"{what} is not installed (the openvino extra); install it with: {INSTALL}")
    telemetry.decline()
    return __import__(what)


def core() -> Any:
    """The process's OpenVINO ``Core`` (one per process: creating it loads the plugins)."""
    global _CORE
    if _CORE is None:
        _CORE = require().Core()
    return _CORE


_CORE: Any = None


def has_bf16() -> bool:
    """Whether this CPU computes in bf16 in OpenVINO (AVX-512-BF16 or AMX); otherwise the bf16 hint runs f32."""
    return "BF16" in core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


# ---------------------------------------------------------------------------------------------- files
def convert(onnx_path: str | Path) -> Any:
    """An ``openvino.Model`` from an ONNX file; an operator OpenVINO lacks is one line naming it."""
    ov = require()
    try:
        return ov.convert_model(str(onnx_path))
    except Exception as e:
        why = one_line(cause_of(e))[:300]
        nodes = _nodes_of(onnx_path, why)
        raise EdgevisionError(f"{onnx_path}: OpenVINO cannot convert it ({why})" + (
            f"; node(s): {', '.join(nodes[:5])}" if nodes else "")) from None


def _nodes_of(onnx_path: str | Path, why: str) -> list[str]:
    """The names of the graph's nodes whose operator the converter's message names (``domain.Op`` or ``Op``)."""
    import onnx

    try:
        graph = onnx.load(str(onnx_path), load_external_data=False).graph
    except Exception:
        return []
    named = set(why.replace(",", " ").split())
    return [n.name or n.output[0] for n in graph.node if n.op_type in named or f"{n.domain}.{n.op_type}" in named]


def save_ir(model: Any, path: str | Path, meta: dict[str, Any], fp16_weights: bool = False) -> Path:
    """Write ``model`` to ``path`` (``.xml``, with its ``.bin`` beside it) carrying ``meta``; the pair appears
    atomically (both are written to a temporary folder first, then moved, the ``.bin`` before the ``.xml``)."""
    ov, path = require(), Path(path)
    model.set_rt_info(json.dumps(to_jsonable(meta)), META_PATH)
    tmp = temp_dir_beside(path)
    try:
        ov.save_model(model, str(tmp / path.name), compress_to_fp16=fp16_weights)
        os.replace(tmp / path.with_suffix(".bin").name, path.with_suffix(".bin"))
        os.replace(tmp / path.name, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def ir_files(path: str | Path) -> list[Path]:
    """The files of an IR: the ``.xml`` and its ``.bin``."""
    p = Path(path)
    return [p, p.with_suffix(".bin")]


def ir_bytes(path: str | Path) -> int:
    return sum(f.stat().st_size for f in ir_files(path) if f.exists())


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The edgevision metadata of an IR (empty when it has none)."""
    try:
        model = core().read_model(str(path))
    except Exception as e:
        raise ArtifactError(f"{path}: not a readable OpenVINO IR ({one_line(cause_of(e))[:200]})") from None
    if not model.has_rt_info(META_PATH):
        return {}
    try:
        return json.loads(model.get_rt_info(META_PATH).astype(str))
    except ValueError:
        raise ArtifactError(f"{path}: damaged edgevision metadata in the IR (export it again)") from None


# ---------------------------------------------------------------------------------------------- running
def compile_model(model: Any, threads: int | None = 1, precision: str = "fp32") -> Any:
    """Compile an IR path or ``openvino.Model`` for the CPU with ``threads`` threads and the compute precision of
    ``precision`` (fp32 → f32, bf16 → bf16, int8 → the plugin's default). No performance hint: measured here, the
    LATENCY hint with one stream made a 12 MMAC model 8× slower at batch 1 on one thread than the plain setting."""
    cfg: dict[str, Any] = {}
    if threads:
        cfg["INFERENCE_NUM_THREADS"] = int(threads)
    if precision in PRECISION_HINTS:
        cfg["INFERENCE_PRECISION_HINT"] = PRECISION_HINTS[precision]
    src = str(model) if isinstance(model, str | Path) else model
    try:
        compiled = core().compile_model(src, "CPU", cfg)
        keep_signal_stack()
        return compiled
    except Exception as e:
        raise EdgevisionError(f"{model if isinstance(model, str | Path) else 'model'}: OpenVINO cannot compile it "
                              f"({one_line(cause_of(e))[:300]})") from None


class Runner:
    """``run(x) -> [outputs]``: the IR compiled for the static shape of ``x`` (once per shape, then cached with its
    infer request). A dynamic-batch graph would also run as is, but the CPU plugin then re-plans memory whenever the
    batch changes, which costs several times a small model's batch-1 latency."""

    def __init__(self, model: Any, threads: int | None = 1, precision: str = "fp32") -> None:
        self.model, self.threads, self.precision = model, threads, precision
        self._requests: dict[tuple[int, ...], tuple[Any, list[Any]]] = {}

    def _request(self, shape: tuple[int, ...]) -> tuple[Any, list[Any]]:
        if shape not in self._requests:
            src = self.model
            m = core().read_model(str(src)) if isinstance(src, str | Path) else src.clone()
            try:
                m.reshape(list(shape))
            except Exception as e:
                raise EdgevisionError(f"{src}: OpenVINO cannot run it on input {list(shape)} "
                                      f"({one_line(cause_of(e))[:200]})") from None
            compiled = compile_model(m, self.threads, self.precision)
            self._requests[shape] = (compiled.create_infer_request(), list(compiled.outputs))
        return self._requests[shape]

    def __call__(self, x: np.ndarray) -> list[np.ndarray]:
        req, outs = self._request(tuple(x.shape))
        res = req.infer({0: np.ascontiguousarray(x, np.float32)})
        return [np.asarray(res[o]) for o in outs]


def runner(model: Any, threads: int | None = 1, precision: str = "fp32") -> Runner:
    """A :class:`Runner` of an IR path, an ONNX path or an ``openvino.Model``."""
    return Runner(model, threads, precision)


def run_ir(model: Any, x: np.ndarray, precision: str = "fp32", batch: int = 64, threads: int | None = None
           ) -> np.ndarray:
    """First output of an IR (path or Model) on ``x``, batched."""
    run = runner(model, threads, precision)
    return np.concatenate([run(x[i:i + batch])[0].astype(np.float32) for i in range(0, len(x), batch)])


class OpenVinoModule(nn.Module):
    """Runs an IR in OpenVINO behind the module interface (``eval``, ``predict``, bench accuracy)."""

    def __init__(self, path: str | Path, precision: str = "fp32", threads: int | None = None) -> None:
        super().__init__()
        self.path, self.precision, self.threads = Path(path), precision, threads
        self._run: Runner | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        if self._run is None:
            self._run = runner(self.path, self.threads, self.precision)
        outs = tuple(torch.from_numpy(o.astype(np.float32)) for o in self._run(x.detach().float().cpu().numpy()))
        return outs[0] if len(outs) == 1 else outs

    def __getstate__(self) -> dict:  # compiled models are not copyable; copies compile again lazily
        state = self.__dict__.copy()
        state["_run"] = None
        return state


@LOADERS.register(".xml")
def load_ir(path: Path) -> Artifact:
    """Load an exported OpenVINO IR as an :class:`Artifact` whose ``model`` runs in OpenVINO."""
    if not path.with_suffix(".bin").is_file():
        raise ArtifactError(f"{path}: its weights file {path.with_suffix('.bin').name} is missing")
    meta = read_metadata(path)
    missing = [k for k in ("arch", "task", "preprocess") if k not in meta]
    if missing:
        raise ArtifactError(f"{path}: not an edgevision export (metadata {', '.join(missing)} missing); export it "
                            f"with `edgevision export --format openvino`")
    precision = str(meta.get("precision", "fp32"))
    art_meta = {**dict(meta.get("meta") or {}), "precision": precision, "source": meta.get("source")}
    return Artifact(OpenVinoModule(path, precision), ArchSpec.from_dict(meta["arch"]), meta["task"],
                    meta["preprocess"], path, art_meta)


# ---------------------------------------------------------------------------------------------- int8
def quantize_int8(model: Any, calib: np.ndarray, x: np.ndarray, ref: np.ndarray, max_drop: float,
                  batch: int = 16) -> tuple[Any, dict[str, Any]]:
    """NNCF int8 of ``model`` calibrated on ``calib`` (N, C, H, W); when top-1 agreement with ``ref`` (the torch
    outputs on the hold-out ``x``) drops below ``1 − max_drop``, NNCF's accuracy-aware quantization keeps the
    most sensitive layers in float. Returns the quantized model and what was done."""
    nncf = require("nncf")
    cal = nncf.Dataset([calib[i:i + 1] for i in range(len(calib))])  # one image per item, as NNCF's statistics expect
    with _quiet(nncf):
        qm = nncf.quantize(model, cal, subset_size=len(calib))
    keep_signal_stack(collect=True)
    agree = agreement(run_ir(qm, x, "int8"), ref)
    report: dict[str, Any] = {"quantizer": f"nncf {nncf.__version__}", "calib_samples": len(calib),
                              "agreement_default": agree, "fallback": False}
    if agree >= 1 - max_drop:
        return qm, report
    val = nncf.Dataset([(x[i:i + batch], ref[i:i + batch]) for i in range(0, len(x), batch)],
                       lambda item: item[0])

    def validate(compiled: Any, items: Any) -> float:
        req = compiled.create_infer_request()  # NNCF hands over a model compiled for the dynamic batch
        pairs = [(np.asarray(req.infer({0: xb})[compiled.outputs[0]]), rb) for xb, rb in items]
        return agreement(np.concatenate([p for p, _ in pairs]), np.concatenate([r for _, r in pairs]))

    with _quiet(nncf):
        qm = nncf.quantize_with_accuracy_control(model, cal, val, validation_fn=validate, max_drop=max_drop,
                                                 drop_type=nncf.DropType.ABSOLUTE, subset_size=len(calib))
    keep_signal_stack(collect=True)
    report.update(fallback=True, float_layers=_float_layers(qm))
    return qm, report


@contextlib.contextmanager
def _quiet(nncf: Any) -> Iterator[None]:
    """NNCF logs advice and draws progress bars on stdout; the CLI prints its own one-line summary instead."""
    nncf.set_log_level(logging.ERROR)
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _float_layers(model: Any) -> list[str]:
    """Convolutions / MatMuls without a FakeQuantize on their input (the layers kept in float)."""
    out = []
    for op in model.get_ordered_ops():
        if op.get_type_name() in ("Convolution", "GroupConvolution", "MatMul"):
            src = op.input_value(0).get_node()
            if src.get_type_name() != "FakeQuantize":
                out.append(op.get_friendly_name())
    return out
