"""LiteRT (TFLite) at run time: the interpreter, the file's edgevision metadata, and the ``.tflite`` artifact loader.

Running needs only LiteRT's interpreter (``ai-edge-litert``, in the ``[litert]`` and ``[teachers]`` extras);
converting needs ``litert-torch`` too (:mod:`.litert`). An exported ``.tflite`` carries the same self-describing
metadata as an ``.onnx`` export (task, class names, preprocessing, architecture spec, precision) as one JSON
entry of the flatbuffer's ``metadata`` table, named :data:`META_NAME`, so ``eval``, ``predict``, ``demo``,
``profile`` and ``bench`` run the file alone, in the interpreter with its XNNPACK delegate.

Files run in :class:`edgevision.utils.litert.Runner`, the interpreter runner teacher files use too: full-integer
files take and give int8, and the runner quantizes the input and dequantizes the output with the file's own
``(s, z)``, ``q = clamp(round(x / s) + z, −128, 127)``, ``x̂ = s (q − z)`` (Jacob et al., 2018).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from ..artifacts import LOADERS, Artifact
from ..errors import ArtifactError, ConfigError, cause_of
from ..utils.io import atomic_open, to_jsonable
from ..utils.litert import Runner as InterpreterRunner
from ..utils.text import one_line
from .runtimes import FileModule, FileRuntime, file_artifact, register

INSTALL = "pip install 'edgevision[litert]'"
META_NAME = "edgevision/meta"
IDENTIFIER = b"TFL3"


def runtime_available() -> bool:
    """True when LiteRT's interpreter is installed (checked without importing it)."""
    return importlib.util.find_spec("ai_edge_litert") is not None


def _schema() -> Any:
    if not runtime_available():
        raise ConfigError(f"ai-edge-litert is not installed (LiteRT's interpreter, the litert extra); install it "
                          f"with: {INSTALL}")
    from ai_edge_litert import schema_py_generated

    return schema_py_generated


def _read(path: Path) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise ArtifactError(f"{path}: cannot read it ({e.strerror or e})") from None
    if len(data) < 8 or data[4:8] != IDENTIFIER:
        raise ArtifactError(f"{path}: not a TFLite flatbuffer (no {IDENTIFIER.decode()} identifier)")
    return data


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The file's edgevision metadata (``{}`` when it has none, as in a file edgevision did not write)."""
    s, data = _schema(), _read(Path(path))
    try:
        model = s.Model.GetRootAs(data, 0)
        for i in range(model.MetadataLength()):
            entry = model.Metadata(i)
            if entry.Name() == META_NAME.encode():
                return json.loads(model.Buffers(entry.Buffer()).DataAsNumpy().tobytes())
    except Exception as e:  # a damaged flatbuffer fails in the reader with any error (TypeError, struct.error, ...)
        raise ArtifactError(f"{path}: not a readable TFLite model (its flatbuffer is damaged: "
                            f"{one_line(cause_of(e))[:160]})") from None
    return {}


def write_metadata(path: str | Path, meta: dict[str, Any]) -> Path:
    """Store ``meta`` as JSON in the file's metadata table (replacing an earlier entry), atomically in place."""
    import flatbuffers

    s, data = _schema(), _read(Path(path))
    model = s.ModelT.InitFromPackedBuf(bytearray(data), 0)
    model.buffers = model.buffers or []
    old = [m for m in (model.metadata or []) if _name(m) == META_NAME]
    for m in old:  # an earlier entry's buffer is emptied (indices of the other buffers stay valid)
        model.buffers[m.buffer].data = None
    buf = s.BufferT()
    buf.data = np.frombuffer(json.dumps(to_jsonable(meta)).encode(), np.uint8)
    model.buffers.append(buf)
    entry = s.MetadataT()
    entry.name, entry.buffer = META_NAME, len(model.buffers) - 1
    model.metadata = [m for m in (model.metadata or []) if _name(m) != META_NAME] + [entry]
    builder = flatbuffers.Builder(len(data) + 4096)
    builder.Finish(model.Pack(builder), file_identifier=IDENTIFIER)
    with atomic_open(path, "wb") as f:
        f.write(bytes(builder.Output()))
    return Path(path)


def _name(m: Any) -> str:
    return m.name.decode() if isinstance(m.name, bytes) else str(m.name)


class Runner(InterpreterRunner):
    """``run(x (B, C, H, W) float32) -> first output (B, ...) float32`` in LiteRT's interpreter (XNNPACK): the one
    runner of :mod:`edgevision.utils.litert`, which says first that the litert extra is missing."""

    def __init__(self, path: str | Path, threads: int | None = 1) -> None:
        _schema()
        super().__init__(path, threads)


class LiteRTModule(FileModule):
    """Runs a ``.tflite`` file in LiteRT behind the module interface (``eval``, ``predict``, bench accuracy)."""

    def make_runner(self) -> Runner:
        return Runner(self.path, self.threads)


@LOADERS.register(".tflite", description="a LiteRT (TFLite) file written by `edgevision export --format tflite`")
def load_tflite(path: Path) -> Artifact:
    """Load an exported ``.tflite`` as an :class:`Artifact` whose ``model`` runs in LiteRT's interpreter."""
    meta = read_metadata(path)
    art = file_artifact(path, meta, LiteRTModule(path), "tflite", f", or use it as a teacher file (--teacher "
                        f"{path.name} --teacher-options.output ...)")
    Runner(path)  # a file the interpreter rejects fails here, in one line
    return art


def _convert(model: nn.Module, shape: tuple[int, int, int], path: Path) -> Path:
    from . import litert

    return litert.convert_fp32(model, shape, path)


def _can_convert() -> bool:
    from . import litert

    return litert.available()


RUNTIME = register(FileRuntime("litert", ".tflite", "tflite", "litert", Runner, LiteRTModule, _convert, _can_convert,
                               "litert-torch"))
