"""``export --format tflite``: LiteRT (TFLite) flatbuffers from the torch model, run with LiteRT's interpreter.

LiteRT is an optional extra (``pip install 'edgevision[litert]'``: ``litert-torch`` converts, ``ai-edge-litert``
runs, both beside torch 2.13 CPU). The graph is exported at batch 1 (LiteRT files have static shapes) with NCHW
float input, as the torch model takes it.

- ``model.tflite`` (fp32): ``litert_torch.convert``; checked by ``max |tflite − torch| / max |torch| ≤ rtol``.
- ``model.int8.tflite``: full-integer int8 through the PT2E flow (``torch.export`` → ``prepare_pt2e`` with LiteRT's
  symmetric per-channel quantizer → calibration on ``calib_samples`` train images → ``convert_pt2e`` → convert),
  after Jacob et al. (2018): ``q = clamp(round(x / s) + z, −128, 127)``; its input and output are int8 too, so the
  runner quantizes the input and dequantizes the output with the file's own ``(s, z)``. Checked by top-1 agreement
  ≥ ``min_agreement``.

Both run in the interpreter with the XNNPACK delegate (LiteRT's default CPU path), one sample at a time.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import tempfile
from copy import deepcopy
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError, EdgevisionError, cause_of
from ..utils.quiet import quiet
from ..utils.text import one_line
from .device_export import export_files
from .export import EXPORTERS, ExportFormat, ExportJob
from .litert_runtime import RUNTIME, write_metadata
from .subpixel import rewrite_transposed

INSTALL = "pip install 'edgevision[litert]'"


def available() -> bool:
    """True when both LiteRT packages are installed (checked without importing them)."""
    return all(importlib.util.find_spec(m) is not None for m in ("litert_torch", "ai_edge_litert"))


def _require() -> Any:
    if not available():
        raise ConfigError(f"litert-torch / ai-edge-litert are not installed (the litert extra); install them with: "
                          f"{INSTALL}")
    with _quiet():
        import litert_torch

    return litert_torch


def _quiet() -> contextlib.AbstractContextManager[None]:
    """The converter (and torchao, on import) print progress lines, warnings and native log lines."""
    return quiet(native=True)


def _write(edge: Any, path: Path) -> Path:
    """Export a converted model to ``path`` atomically."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tflite", dir=path.parent)
    os.close(fd)
    try:
        with _quiet():
            edge.export(tmp)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return path


def refusal(model: nn.Module, e: BaseException, what: str = "convert") -> EdgevisionError:
    """The converter's failure as one sentence: the transposed convolutions it cannot lower are named (the MLIR
    text stays for ``--debug``), anything else keeps the converter's first line."""
    transposed = [n for n, m in model.named_modules() if isinstance(m, nn.ConvTranspose1d | nn.ConvTranspose2d)]
    full, text = str(e), one_line(cause_of(e))  # the shortened line may have cut the words out of a long path
    if transposed and ("legalize" in full or "mhlo" in full):
        names = ", ".join(transposed[:3]) + (f" and {len(transposed) - 3} more" if len(transposed) > 3 else "")
        return EdgevisionError(f"LiteRT's converter cannot {what} the model's transposed convolutions ({names}: "
                               f"nn.ConvTranspose2d); use --format executorch, ncnn, openvino or onnx for it")
    return EdgevisionError(f"LiteRT cannot {what} the model ({text[:300]})")


def lowerable(model: nn.Module) -> nn.Module:
    """A copy of ``model`` the converter can lower: transposed convolutions become sub-pixel convolutions
    (``deploy.subpixel``, the same function), since LiteRT cannot legalize them."""
    if not any(type(m) is nn.ConvTranspose2d for m in model.modules()):
        return model.eval()
    copy = deepcopy(model).eval()
    rewrite_transposed(copy)
    return copy


def convert_fp32(model: nn.Module, shape: tuple[int, int, int], path: Path) -> Path:
    lt = _require()
    try:
        with _quiet():
            edge = lt.convert(lowerable(model), (torch.zeros(1, *shape),))
    except Exception as e:
        raise refusal(model, e) from None
    return _write(edge, path)


def convert_int8(model: nn.Module, shape: tuple[int, int, int], calib: np.ndarray, path: Path) -> Path:
    """Full-integer int8 via PT2E, calibrated on ``calib`` (N, C, H, W)."""
    lt = _require()
    with _quiet():
        from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config
        from litert_torch.quantize.quant_config import QuantConfig
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    x = torch.zeros(1, *shape)
    quantizer = PT2EQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True, is_dynamic=False))
    try:
        with _quiet(), torch.no_grad():
            prepared = prepare_pt2e(torch.export.export(lowerable(model), (x,)).module(), quantizer)
            for i in range(len(calib)):
                prepared(torch.from_numpy(calib[i:i + 1]))
            edge = lt.convert(convert_pt2e(prepared, fold_quantize=False), (x,),
                              quant_config=QuantConfig(pt2e_quantizer=quantizer))
    except Exception as e:
        raise refusal(model, e, "quantize") from None
    return _write(edge, path)


def _fp32(model: nn.Module, shape: tuple[int, int, int], path: Path, meta: dict[str, Any]) -> Path:
    return write_metadata(convert_fp32(model, shape, path), meta)


def _int8(model: nn.Module, shape: tuple[int, int, int], calib: np.ndarray, path: Path, meta: dict[str, Any]
          ) -> Path:
    return write_metadata(convert_int8(model, shape, calib, path), meta)


def _tflite(job: ExportJob) -> list[dict[str, Any]]:
    _require()
    return export_files(job, RUNTIME, _fp32, _int8)


EXPORTERS.register("tflite", ExportFormat(
    ".tflite", frozenset({"int8"}), _tflite, "LiteRT (TFLite) flatbuffer, fp32 and full-integer int8 (PT2E)",
    extra="litert", available=lambda: available(), settings=frozenset({"calib_samples"})))
