"""Reduced precision: fp16/bf16 weight storage, and int8 post-training static quantization in onnxruntime.

**int8** follows torchvision's order (fuse → calibrate → convert), done on the exported ONNX graph with
onnxruntime's tools, which measured faster on this CPU than torch's own int8 paths (see docs/results/speed.md):

1. *fuse*: ``quant_pre_process`` (shape inference, constant folding; BatchNorm is already folded into convs by
   the exporter);
2. *calibrate*: run real samples through the float graph and record each activation's range, by **MinMax**
   (observed extremes), **Entropy** (the threshold minimising the KL divergence between the float and the
   quantized histogram, as in TensorRT) or **Percentile** (the p-th percentile of |x|);
3. *convert*: QDQ format, weights int8 symmetric per output channel, activations uint8 asymmetric — the
   U8S8 combination that onnxruntime's VNNI/AMX kernels run fastest on x86.

A uint8 value ``q`` stands for ``scale·(q − zero_point)`` with ``scale = (max − min)/255``. Layers can stay in
float by module path (``exclude``) or automatically by sensitivity (:func:`sensitivity`).

**fp16 / bf16** store weights in 16 bits (half the file) and compute in fp32: onnxruntime has no fp16 conv
kernels on x86 CPUs, so the ONNX form keeps each weight as a 16-bit initializer followed by a ``Cast`` (folded
at load time), and the ``.pt`` form keeps a half-precision state_dict that loads into fp32.
"""

from __future__ import annotations

import contextlib
import copy
import fnmatch
import io
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from ...data import BatchTransform, DataSplits, SampleDataset
from ...data.base import collate
from ...errors import ConfigError, EdgevisionError
from ...utils.io import atomic_open
from ..onnx import ort_session
from . import cpu
from .concat import share_concat_scales

CALIBRATION = ("minmax", "entropy", "percentile")
QUANTIZABLE_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
_DTYPES = {"fp16": (torch.float16, TensorProto.FLOAT16), "bf16": (torch.bfloat16, TensorProto.BFLOAT16)}


# ---------------------------------------------------------------------------------------------- fp16 / bf16
def rounded_copy(model: nn.Module, precision: str) -> nn.Module:
    """A copy of ``model`` whose float weights are rounded to ``precision`` and back (what 16-bit storage keeps)."""
    dtype = _DTYPES[precision][0]
    out = copy.deepcopy(model)
    with torch.no_grad():
        for t in list(out.parameters()) + list(out.buffers()):
            if t.is_floating_point():
                t.copy_(t.to(dtype).float())
    return out


def half_storage(model: nn.Module, precision: str) -> nn.Module:
    """A copy in ``precision`` (float16/bfloat16) for saving: its state_dict is half the size and loads into fp32."""
    return copy.deepcopy(model).to(_DTYPES[precision][0])


def onnx_weight_storage(src: str | Path, dst: str | Path, precision: str, min_elements: int = 16) -> Path:
    """Rewrite an fp32 ONNX file so float initializers of ≥ ``min_elements`` values are stored in 16 bits.

    Each becomes ``<name>_<precision>`` plus a ``Cast(to=FLOAT)`` node producing the original name, so the graph
    still computes in fp32 and onnxruntime folds the casts when it loads the file.
    """
    dtype, onnx_type = _DTYPES[precision]
    model = onnx.load(str(src))
    g = model.graph
    casts, keep = [], []
    for init in g.initializer:
        arr = numpy_helper.to_array(init)
        if init.data_type != TensorProto.FLOAT or arr.size < min_elements:
            keep.append(init)
            continue
        name16 = f"{init.name}_{precision}"
        keep.append(_tensor16(torch.from_numpy(arr.copy()).to(dtype), name16, onnx_type))
        casts.append(helper.make_node("Cast", [name16], [init.name], to=TensorProto.FLOAT, name=f"Cast_{name16}"))
    del g.initializer[:]
    g.initializer.extend(keep)
    nodes = list(g.node)
    del g.node[:]
    g.node.extend(casts + nodes)
    with atomic_open(dst, "wb") as f:
        f.write(model.SerializeToString())
    return Path(dst)


def _tensor16(t: torch.Tensor, name: str, onnx_type: int) -> TensorProto:
    raw = t.contiguous().view(torch.int16).numpy().tobytes()  # fp16 and bf16 are both 16-bit patterns
    return helper.make_tensor(name, onnx_type, list(t.shape), raw, raw=True)


# ---------------------------------------------------------------------------------------------- samples
def sample_array(ds: SampleDataset, splits: DataSplits, n: int | None, offset: int = 0) -> np.ndarray:
    """Up to ``n`` normalized images (N, C, H, W) float32 of ``ds``, from position ``offset`` on."""

    end = len(ds) if n is None else min(len(ds), offset + n)
    idx = torch.arange(offset, end)
    if len(idx) == 0:
        return np.zeros((0, splits.channels, *splits.input_size), np.float32)
    batch = ds.get_batch(idx) if hasattr(ds, "get_batch") else collate([ds[int(i)] for i in idx])
    batch = BatchTransform(splits.mean, splits.std)(dict(batch), None)
    return batch["image"].numpy().astype(np.float32)


def run_onnx(path: str | Path, x: np.ndarray, batch: int = 64, threads: int | None = None) -> np.ndarray:
    """First output of the ONNX model on ``x``, batched."""

    s = ort_session(path, threads)
    name = s.get_inputs()[0].name
    outs = [s.run(None, {name: x[i:i + batch]})[0] for i in range(0, len(x), batch)]
    return np.concatenate(outs) if outs else np.zeros((0,), np.float32)


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Share of positions whose arg-max over dim 1 matches (top-1 for logits, per pixel for maps)."""
    if a.ndim < 2 or a.shape[1] == 1:
        return float(np.mean(np.sign(a) == np.sign(b)))
    return float(np.mean(a.argmax(1) == b.argmax(1)))


# ---------------------------------------------------------------------------------------------- int8
class _Reader:
    """onnxruntime CalibrationDataReader over an array, in batches."""

    def __init__(self, x: np.ndarray, input_name: str, batch: int = 32) -> None:
        self.x, self.name, self.batch = x, input_name, batch
        self.it: Iterator[dict[str, np.ndarray]] | None = None
        self.rewind()

    def rewind(self) -> None:
        self.it = iter({self.name: self.x[i:i + self.batch]} for i in range(0, len(self.x), self.batch))

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.it, None)

    def __len__(self) -> int:
        return -(-len(self.x) // self.batch)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """onnxruntime's quantizer logs advice through the root logger and prints; keep the CLI clean."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        root.setLevel(level)


def prepare_for_int8(src: str | Path, dst: str | Path) -> Path:
    """The *fuse* step: onnxruntime's quantization pre-processing (shape inference, graph optimisation)."""
    from onnxruntime.quantization import quant_pre_process

    with _quiet():
        quant_pre_process(str(src), str(dst), skip_symbolic_shape=True)
    return Path(dst)


def module_path(node_name: str) -> str:
    """The torch module path of an exported node: ``/features/features.3/squeeze/Conv`` → ``features.3.squeeze``."""
    path = ""
    for part in node_name.strip("/").split("/")[:-1]:
        path = part if not path or part.startswith(path + ".") else f"{path}.{part}"
    return path


def quantizable_nodes(path: str | Path) -> list[str]:
    return [n.name for n in onnx.load(str(path)).graph.node if n.op_type in QUANTIZABLE_OPS]


def nodes_matching(path: str | Path, patterns: list[str] | tuple[str, ...]) -> list[str]:
    """Quantizable nodes whose module path (or node name) matches a glob; an unmatched pattern is an error."""
    nodes = quantizable_nodes(path)
    out: list[str] = []
    for pat in patterns:
        hit = [n for n in nodes if fnmatch.fnmatchcase(module_path(n), pat) or fnmatch.fnmatchcase(n, pat)]
        if not hit:
            names = ", ".join(sorted({module_path(n) for n in nodes}))
            raise ConfigError(f"exclude {pat!r} matches no quantizable layer; layers: {names}")
        out += [n for n in hit if n not in out]
    return out


def quantize_int8(prepared: str | Path, dst: str | Path, calib: np.ndarray, *, method: str = "minmax",
                  per_channel: bool = True, exclude_nodes: list[str] | tuple[str, ...] = (),
                  percentile: float = 99.999, cache: str | Path | None = None, activations: str = "uint8",
                  share_concat: bool = True, reduce_range: str | bool | None = "auto") -> Path:
    """Static int8 quantization (QDQ, U8S8) of a :func:`prepare_for_int8` model calibrated on ``calib``.

    ``reduce_range`` keeps weights in 7 bits where the target's int8 kernels would saturate (``auto``: where this
    CPU is x86 without VNNI; :mod:`.cpu`).
    ``cache`` (a JSON file) stores the calibrated ranges, so re-quantizing with other exclusions is cheap.
    Every ``Concat`` then quantizes its inputs with its output's scale (:mod:`.qdq_concat`) unless
    ``share_concat`` is False (kept for the benchmark's ablation).
    ``activations="int8"`` gives S8S8 instead (slower on x86; kept for comparison).
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if method not in CALIBRATION:
        raise ConfigError(f"calibration {method!r}: allowed: {', '.join(CALIBRATION)}")
    if len(calib) == 0:
        raise EdgevisionError("int8 calibration needs at least one sample")
    cm = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
          "percentile": CalibrationMethod.Percentile}[method]
    extra = {"CalibPercentile": percentile} if method == "percentile" else {}
    name = onnx.load(str(prepared), load_external_data=False).graph.input[0].name
    with tempfile.TemporaryDirectory() as tmp, _quiet():
        out = Path(tmp) / "int8.onnx"
        quantize_static(str(prepared), str(out), _Reader(calib, name), quant_format=QuantFormat.QDQ,
                        per_channel=per_channel, weight_type=QuantType.QInt8,
                        activation_type=QuantType.QInt8 if activations == "int8" else QuantType.QUInt8,
                        calibrate_method=cm, nodes_to_exclude=list(exclude_nodes), extra_options=extra,
                        calibration_cache_path=str(cache) if cache else None,
                        reduce_range=cpu.reduce_range(reduce_range))
        model = onnx.load(str(out))
        if share_concat and share_concat_scales(model):
            onnx.save(model, str(out))
        with atomic_open(dst, "wb") as f:
            f.write(out.read_bytes())
    return Path(dst)


def sensitivity(prepared: Path, work: Path, calib: np.ndarray, x: np.ndarray, ref: np.ndarray, *, method: str,
                per_channel: bool, exclude: list[str], reduce_range: str | bool | None = "auto"
                ) -> list[dict[str, object]]:
    """For every quantizable node, the top-1 agreement with fp32 when *only that node* stays in float.

    Nodes whose exclusion helps most come first: they are the ones to keep in fp32 (leave-one-out analysis,
    calibrated once thanks to the range cache).
    """
    cache = work / f"ranges-{method}.json"
    rows = []
    for node in quantizable_nodes(prepared):
        if node in exclude:
            continue
        path = quantize_int8(prepared, work / "probe.int8.onnx", calib, method=method, per_channel=per_channel,
                             exclude_nodes=[*exclude, node], cache=cache, reduce_range=reduce_range)
        rows.append({"node": node, "layer": module_path(node), "agreement": agreement(run_onnx(path, x), ref)})
    rows.sort(key=lambda r: -float(r["agreement"]))
    return rows
