"""ONNX export (opset 17, dynamic batch) with a numeric parity check against PyTorch, ORT sessions, OpenCV
``cv2.dnn`` networks, and self-describing metadata (the ``.onnx`` artifact loader is in :mod:`.foreign`).

The TorchScript-based exporter (``dynamo=False``) is used: on this torch it is fast, and its graphs load in both
onnxruntime and OpenCV's ``cv2.dnn``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from ..errors import ArtifactError, EdgevisionError, cause_of
from ..utils.io import atomic_open, to_jsonable

OPSET = 17


def export_onnx(model: nn.Module, path: str | Path, input_shape: tuple[int, ...], opset: int = OPSET,
                dynamic_batch: bool = True) -> Path:
    """Export ``model`` for inputs (B, *input_shape); the file appears atomically."""
    model = model.eval()
    x = torch.randn(1, *input_shape)
    buf = io.BytesIO()
    dyn = {"input": {0: "batch"}, "output": {0: "batch"}} if dynamic_batch else None
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(model, (x,), buf, dynamo=False, opset_version=opset, input_names=["input"],
                              output_names=["output"], dynamic_axes=dyn, do_constant_folding=True)
        except Exception as e:
            raise EdgevisionError(f"ONNX export failed: {str(e).splitlines()[0][:200]}") from None
    with atomic_open(path, "wb") as f:
        f.write(buf.getvalue())
    return Path(path)


def ort_session(path: str | Path, threads: int | None = None) -> ort.InferenceSession:
    """A CPU onnxruntime session with ``threads`` intra-op threads (1 inter-op thread, full graph optimization)."""
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def fixed_batch(session: ort.InferenceSession) -> int | None:
    """The batch size an ONNX file's input is fixed at (foreign files often are), or None when it is dynamic."""
    dim = session.get_inputs()[0].shape[0] if session.get_inputs()[0].shape else None
    return dim if isinstance(dim, int) and dim > 0 else None


def run_session(session: ort.InferenceSession, x: np.ndarray) -> list[np.ndarray]:
    """Every output of ``session`` on the batch ``x``; a file with a fixed batch runs in chunks of that size (the
    last one zero-padded and trimmed), so any batch size works on it."""
    name, n = session.get_inputs()[0].name, fixed_batch(session)
    x = np.ascontiguousarray(x, dtype=np.float32)
    if n is None or len(x) == n:
        return session.run(None, {name: x})
    chunks = []
    for i in range(0, len(x), n):
        part = x[i:i + n]
        pad = np.concatenate([part, np.zeros((n - len(part), *x.shape[1:]), np.float32)]) if len(part) < n else part
        chunks.append([o[:len(part)] for o in session.run(None, {name: pad})])
    return [np.concatenate(outs) for outs in zip(*chunks)]


def parity(model: nn.Module, session: ort.InferenceSession, input_shape: tuple[int, ...], batch: int = 2,
           seed: int = 0) -> float:
    """Max absolute difference between torch and onnxruntime outputs on random inputs."""
    x = torch.randn(batch, *input_shape, generator=torch.Generator().manual_seed(seed))
    with torch.inference_mode():
        ref = model.eval()(x)
    ref = ref if isinstance(ref, tuple | list) else (ref,)
    outs = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    return float(max(np.abs(o - r.float().numpy()).max() for o, r in zip(outs, ref)))


# ---------------------------------------------------------------------------------------------- metadata
META_PREFIX = "edgevision."
CHECKSUM_KEY = META_PREFIX + "sha256"  # of the whole file without this entry: a damaged byte never loads silently
SUMMED_FORMAT = "edgevision.onnx+sha256"  # the format of files that carry a checksum (so a lost entry is noticed)
FORMATS = ("edgevision.onnx", SUMMED_FORMAT)  # the first: exports from before checksums, loaded unchecked


def model_digest(model: onnx.ModelProto) -> str:
    """SHA-256 of ``model`` serialized without its checksum entry (graph, weights, opsets and every metadata)."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    keep = [p for p in m.metadata_props if p.key != CHECKSUM_KEY]
    del m.metadata_props[:]
    m.metadata_props.extend(keep)
    return hashlib.sha256(m.SerializeToString(deterministic=True)).hexdigest()


def write_metadata(path: str | Path, meta: dict[str, object]) -> Path:
    """Store ``meta`` (JSON-encoded values) in the file's ``metadata_props``, replacing earlier edgevision keys.

    This makes an ``.onnx`` file self-describing: preprocessing, task (class names), architecture spec,
    precision and provenance travel with it.
    """
    model = onnx.load(str(path))
    keep = [p for p in model.metadata_props if not p.key.startswith(META_PREFIX)]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    for k, v in {**meta, "format": SUMMED_FORMAT}.items():
        model.metadata_props.add(key=META_PREFIX + k, value=json.dumps(to_jsonable(v)))
    model.metadata_props.add(key=CHECKSUM_KEY, value=model_digest(model))
    with atomic_open(path, "wb") as f:
        f.write(model.SerializeToString())
    return Path(path)


def read_metadata(path: str | Path, verify: bool = False) -> dict[str, object]:
    """The edgevision ``metadata_props`` of an ONNX file, JSON-decoded; with ``verify``, a file whose checksum
    entry does not match its contents is an ArtifactError (files without the entry are not checked)."""
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:
        raise ArtifactError(f"{path}: not a readable ONNX file ({cause_of(e)})") from None
    if verify:
        _verify(path, model)
    out = {}
    for p in model.metadata_props:
        if p.key.startswith(META_PREFIX) and p.key != CHECKSUM_KEY:
            try:
                out[p.key[len(META_PREFIX):]] = json.loads(p.value)
            except json.JSONDecodeError:
                out[p.key[len(META_PREFIX):]] = p.value
    return out


def _verify(path: str | Path, model: onnx.ModelProto) -> None:
    """A file with a checksum must match it; one whose format says it has one must have it."""
    props = {p.key: p.value for p in model.metadata_props}
    fmt = props.get(META_PREFIX + "format")
    if fmt is not None and fmt not in {json.dumps(f) for f in FORMATS}:
        raise ArtifactError(f"{path}: damaged file or unknown export format ({fmt[:60]!r})")
    summed = CHECKSUM_KEY in props or fmt == json.dumps(SUMMED_FORMAT)
    if summed and props.get(CHECKSUM_KEY) != model_digest(model):
        raise ArtifactError(f"{path}: damaged file: its contents do not match the checksum saved with it "
                            f"(export it again)")


# ---------------------------------------------------------------------------------------------- runtimes
class OnnxModule(nn.Module):
    """An ``nn.Module``-like wrapper that runs an ONNX file in onnxruntime: ``forward(x) -> torch.Tensor``.

    It lets every torch-side tool (``eval``, ``predict``, the trainer's evaluation loop) run an exported or
    quantized model unchanged. It has no parameters and cannot be trained.
    """

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        super().__init__()
        self.path = Path(path)
        self.threads = threads
        self._session: ort.InferenceSession | None = None

    @property
    def session(self) -> ort.InferenceSession:
        if self._session is None:
            self._session = ort_session(self.path, self.threads)
        return self._session

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        outs = run_session(self.session, x.detach().float().cpu().numpy())
        ts = tuple(torch.from_numpy(o) for o in outs)
        return ts[0] if len(ts) == 1 else ts

    def __getstate__(self) -> dict:  # sessions are not copyable; deepcopy/pickle re-open lazily
        state = self.__dict__.copy()
        state["_session"] = None
        return state


def cv2_net(path: str | Path, threads: int | None = None):
    """An OpenCV ``cv2.dnn`` network for an ONNX file, on the CPU backend."""
    import cv2

    if threads:
        cv2.setNumThreads(threads)
    try:
        net = cv2.dnn.readNetFromONNX(str(path))
    except cv2.error as e:
        raise EdgevisionError(f"{path}: cv2.dnn cannot load it ({str(e).strip().splitlines()[-1][:200]})") from None
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    return net


def cv2_run(net, x: np.ndarray) -> np.ndarray:
    net.setInput(np.ascontiguousarray(x, dtype=np.float32))
    return net.forward()
