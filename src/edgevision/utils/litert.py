"""The one LiteRT (TFLite) interpreter runner: exported ``.tflite`` files (``deploy``) and teacher files
(``compress.distill``) both run through :class:`Runner`, so quiet native logs, (de)quantization and fixed-shape
handling live in one place. It needs only LiteRT's interpreter (``ai-edge-litert``), imported when a runner is made.

- Full-integer files take and give int8: the input is quantized and the output dequantized with the file's own
  ``(s, z)``, ``q = clamp(round(x / s) + z, −128, 127)``, ``x̂ = s (q − z)`` (Jacob et al., 2018).
- A file with a fixed batch (what litert-torch writes: 1) runs in chunks of that batch, the last one padded with
  zeros; a dynamic dimension (``-1`` in the input's signature) is resized to the input given.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

import numpy as np

from ..errors import ArtifactError, ConfigError, cause_of
from .quiet import quiet
from .text import one_line

INSTALL = "pip install 'edgevision[litert]'"


def available() -> bool:
    """True when LiteRT's interpreter is installed (checked without importing it)."""
    return importlib.util.find_spec("ai_edge_litert") is not None


class Runner:
    """``run(x (B, ...) float32) -> first output (B, ...) float32`` in LiteRT's interpreter (XNNPACK).

    ``shape`` is the first input's signature (``-1`` where dynamic), ``version`` the interpreter's; a file the
    interpreter rejects, or an integer input without quantization parameters, is one :class:`ArtifactError`."""

    runtime = "ai-edge-litert"

    def __init__(self, path: str | Path, threads: int | None = 1) -> None:
        if not available():
            raise ConfigError(f"ai-edge-litert is not installed (LiteRT's interpreter, the litert extra); install it "
                              f"with: {INSTALL}")
        from ai_edge_litert.interpreter import Interpreter

        try:
            with quiet(native=True):  # the interpreter logs its delegate on stderr
                self.it = Interpreter(model_path=str(path), num_threads=int(threads or 1))
                self.it.allocate_tensors()
        except Exception as e:  # the interpreter raises ValueError / RuntimeError with its own text
            raise ArtifactError(f"{path}: not a TFLite model LiteRT can load ({one_line(cause_of(e))[:200]})"
                                ) from None
        self.inp, self.out = self.it.get_input_details()[0], self.it.get_output_details()[0]
        sig = self.inp.get("shape_signature")
        self.shape = tuple(int(v) for v in (sig if sig is not None and len(sig) else self.inp["shape"]))
        self.version = importlib.metadata.version("ai-edge-litert")
        if self.inp["dtype"] != np.float32 and not self.inp["quantization"][0]:
            raise ArtifactError(f"{path}: its input is {np.dtype(self.inp['dtype']).name} without quantization "
                                f"parameters; float32 or quantized int8 inputs only")

    def _fit(self, shape: tuple[int, ...]) -> None:
        """Resize the input to ``shape`` (where the file's dims are dynamic; a fixed one that differs fails in
        ``set_tensor`` with the interpreter's own message)."""
        if tuple(shape) != tuple(self.it.get_input_details()[0]["shape"]):
            with quiet(native=True):
                self.it.resize_tensor_input(self.inp["index"], list(shape))
                self.it.allocate_tensors()

    def _one(self, x: np.ndarray) -> np.ndarray:
        """One invocation on ``x``, a chunk of the file's batch."""
        d = self.inp
        self._fit(x.shape)
        if d["dtype"] != np.float32:
            s, z = d["quantization"]
            info = np.iinfo(d["dtype"])
            x = np.clip(np.round(x / s) + z, info.min, info.max).astype(d["dtype"])
        self.it.set_tensor(d["index"], x)
        self.it.invoke()
        y = self.it.get_tensor(self.out["index"])
        if self.out["dtype"] != np.float32:
            s, z = self.out["quantization"]
            y = (y.astype(np.float32) - z) * s
        return np.array(y, np.float32)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, np.float32)
        b = self.shape[0] if self.shape and self.shape[0] > 0 else max(len(x), 1)
        outs = []
        for i in range(0, len(x), b):
            part, n = x[i:i + b], len(x[i:i + b])
            if n < b:  # the last chunk of a fixed batch: padded with zeros, their outputs dropped
                part = np.concatenate([part, np.zeros((b - n, *part.shape[1:]), np.float32)])
            outs.append(self._one(part)[:n])
        return np.concatenate(outs) if outs else np.zeros((0, *self.out["shape"][1:]), np.float32)
