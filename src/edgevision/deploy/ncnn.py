"""``export --format ncnn``: Tencent's ncnn (ARM boards, phones), its runtime and the ``.param`` artifact loader.

ncnn is an optional extra (``pip install 'edgevision[ncnn]'``: ``pnnx`` converts, ``ncnn`` runs; 40 MB of wheels,
no other dependency). The model goes through the same ONNX graph as ``--format onnx`` (batch 1, NCHW float), which
``pnnx`` turns into ``model.ncnn.param`` (the graph, text) and ``model.ncnn.bin`` (the weights). ncnn has no place
for metadata in either file, so edgevision's self-description (task, classes, preprocessing, architecture spec)
sits beside them in ``model.ncnn.json``; the three files travel together.

- ``model.ncnn.param``: fp32 weights (pnnx's ``fp16=0``), checked like every float file: ``max |ncnn − torch| /
  max |torch| ≤ rtol``. The runner switches off ncnn's fp16 / bf16 storage and arithmetic (on by default where the
  CPU has them), so the file computes in fp32.
- ``model.fp16.ncnn.param`` (``--fp16``): the weights stored in fp16 (pnnx's default; half the bytes), widened to
  fp32 when ncnn loads them; checked by top-1 agreement (per position for maps) ≥ ``min_agreement``, with the
  relative error recorded beside it (6e-4 to 2e-3 of the output's scale on our graphs).
- ncnn's int8 needs its calibration tools (``ncnn2table``, ``ncnn2int8``), which its wheel does not ship.
- ncnn has no batch axis: the runner feeds one C×H×W sample at a time and stacks the outputs.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from ..artifacts import LOADERS, Artifact
from ..errors import ArtifactError, ConfigError, EdgevisionError
from ..utils.io import write_json
from ..utils.text import one_line
from .device_export import static_metadata
from .export import EXPORTERS, ExportFormat, ExportJob, score, torch_outputs
from .onnx import export_onnx
from .runtimes import FileModule, FileRuntime, file_artifact, file_bytes, register

INSTALL = "pip install 'edgevision[ncnn]'"
SUFFIX = ".param"  # model.ncnn.param, with model.ncnn.bin and model.ncnn.json beside it


def available() -> bool:
    """True when both pnnx (the converter) and ncnn (the runtime) are installed (checked without importing)."""
    return all(importlib.util.find_spec(m) is not None for m in ("pnnx", "ncnn"))


def _require(module: str = "ncnn") -> None:
    if importlib.util.find_spec(module) is None:
        raise ConfigError(f"{module} is not installed (the ncnn extra); install it with: {INSTALL}")


def _pnnx() -> Path:
    _require("pnnx")
    spec = importlib.util.find_spec("pnnx")
    exe = Path(spec.origin).parent / "pnnx"  # the wheel ships the converter as one static binary
    if not os.access(exe, os.X_OK):
        exe.chmod(exe.stat().st_mode | 0o111)
    return exe


def convert_fp32(model: nn.Module, shape: tuple[int, int, int], path: Path, fp16: bool = False) -> Path:
    """``model`` → ONNX → pnnx → ``path`` (``*.ncnn.param``) and its ``.bin`` (moved in place together); the weights
    are stored in fp32 unless ``fp16``."""
    exe = _pnnx()
    with tempfile.TemporaryDirectory(prefix="edgevision-ncnn-") as tmp:
        onnx_file = export_onnx(model, Path(tmp) / "model.onnx", shape, dynamic_batch=False)
        r = subprocess.run([str(exe), str(onnx_file), f"inputshape=[1,{','.join(map(str, shape))}]",
                            f"fp16={int(fp16)}"], cwd=tmp, capture_output=True, text=True, timeout=600)
        made = Path(tmp) / "model.ncnn.param", Path(tmp) / "model.ncnn.bin"
        if r.returncode != 0 or not all(p.is_file() for p in made):
            why = next((ln for ln in reversed((r.stderr + r.stdout).splitlines()) if ln.strip()), "no output")
            raise EdgevisionError(f"pnnx cannot convert the model to ncnn (exit {r.returncode}: "
                                  f"{one_line(why)[:200]})")
        shutil.move(str(made[1]), str(path.with_suffix(".bin")))
        shutil.move(str(made[0]), str(path))
    return path


MAGIC = "7767517"  # the first line of every ncnn .param graph


def check_param(path: Path) -> None:
    """One line for a file that is no ncnn graph (ncnn would print its own ``parse magic failed`` line too)."""
    try:
        with Path(path).open("rb") as f:
            first = f.readline(64).strip()
    except OSError as e:
        raise ArtifactError(f"{path}: cannot read it ({e.strerror or e})") from None
    if first != MAGIC.encode():
        raise ArtifactError(f"{path}: not a readable ncnn model (its first line is not ncnn's magic number {MAGIC}; "
                            f"a .ncnn.param comes from `edgevision export --format ncnn`)")


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The description beside an ncnn file (``{}`` when there is none)."""
    side = Path(path).with_suffix(".json")
    if not side.is_file():
        return {}
    try:
        return json.loads(side.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ArtifactError(f"{side}: unreadable description ({one_line(str(e))[:160]})") from None


class Runner:
    """``run(x (B, C, H, W) float32) -> first output (B, ...) float32`` in ncnn, fp32, ``threads`` threads."""

    def __init__(self, path: str | Path, threads: int | None = 1) -> None:
        _require()
        import ncnn

        path = Path(path)
        check_param(path)
        self.net = ncnn.Net()
        o = self.net.opt
        o.num_threads = int(threads or 1)
        o.use_fp16_storage = o.use_fp16_packed = o.use_fp16_arithmetic = False
        o.use_bf16_storage = o.use_bf16_packed = False
        if self.net.load_param(str(path)) != 0 or self.net.load_model(str(path.with_suffix(".bin"))) != 0:
            raise ArtifactError(f"{path}: ncnn cannot load it (or its weights {path.with_suffix('.bin').name})")
        self._ncnn = ncnn

    def _one(self, x: np.ndarray) -> np.ndarray:
        ex = self.net.create_extractor()
        ex.input("in0", self._ncnn.Mat(x).clone())
        code, out = ex.extract("out0")
        if code != 0:
            raise EdgevisionError(f"ncnn failed on the model's input (error {code})")
        return np.array(out, np.float32)[None]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, np.float32)
        return np.concatenate([self._one(x[i]) for i in range(len(x))])


class NcnnModule(FileModule):
    """Runs an ncnn model behind the module interface (``eval``, ``predict``, bench accuracy)."""

    def make_runner(self) -> Runner:
        return Runner(self.path, self.threads or 1)


@LOADERS.register(SUFFIX, description="an ncnn model (model.ncnn.param + .bin) written by `edgevision export "
                  "--format ncnn`, described by the .json beside it")
def load_ncnn(path: Path) -> Artifact:
    """Load an exported ncnn model as an :class:`Artifact` whose ``model`` runs in ncnn."""
    check_param(path)
    art = file_artifact(path, read_metadata(path), NcnnModule(path), "ncnn",
                        f" (its description {path.with_suffix('.json').name} travels beside it)")
    Runner(path)
    return art


def _export(job: ExportJob) -> list[dict[str, Any]]:
    if not available():
        raise ConfigError(f"pnnx / ncnn are not installed (the ncnn extra); install them with: {INSTALL}")
    x, _ = job.probe()
    ref = torch_outputs(job.model, x)
    files = []
    for precision, name, rule in (("fp32", "model", "float"), ("fp16", "model.fp16", "agreement")):
        if precision == "fp16" and not job.cfg.fp16:
            continue
        path = convert_fp32(job.model, job.shape, job.run.path / f"{name}.ncnn{SUFFIX}", fp16=precision == "fp16")
        write_json(path.with_suffix(".json"), static_metadata(job, precision, "edgevision.ncnn"))
        res = score(Runner(path)(x), ref, job.cfg, rule)
        files.append({"file": path.name, "precision": precision, "bytes": file_bytes(path), "samples": len(x),
                      "engines": ["ncnn"], "ncnn": res, "pass": res["pass"]})
    return files


EXPORTERS.register("ncnn", ExportFormat(
    SUFFIX, frozenset({"fp16"}), _export, "ncnn (model.ncnn.param + .bin, via pnnx), fp32 and fp16 storage",
    extra="ncnn",
    available=lambda: available(), companions=(".bin", ".json")))

RUNTIME = register(FileRuntime("ncnn", SUFFIX, "ncnn", "ncnn", Runner, NcnnModule, convert_fp32,
                               lambda: importlib.util.find_spec("pnnx") is not None, "pnnx", (".bin",)))
