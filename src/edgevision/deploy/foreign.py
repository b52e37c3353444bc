"""Foreign ONNX files: ONNX graphs not written by edgevision, described once by the user and then used like any
artifact (``eval``, ``predict``, ``bench``, ``profile``, ``quantize``, ``distill --teacher``).

A foreign file says how big its input is (when its dims are static) but not how to normalize an image, what its
output means, or the class names. :func:`describe` merges the user's options (``--input-size``, ``--channels``,
``--mean``, ``--std``, ``--task``, ``--classes`` / ``--labels``) with what the graph fixes and with an earlier
description, checks them on one onnxruntime run, and returns the metadata that :func:`record` writes into the
file's ``metadata_props`` with an atomic in-place update (the graph and weights are unchanged; other tools'
metadata is kept). Later verbs then need no options. Anything missing or inconsistent is one line naming the
option, and nothing is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx

from .._version import __version__
from ..artifacts import LOADERS, Artifact
from ..errors import ArtifactError, ConfigError, UndescribedError, cause_of
from ..models.base import ArchSpec
from ..tasks import TASKS
from ..utils.progress import console
from .onnx import OnnxModule, ort_session, read_metadata, run_session, write_metadata

FOREIGN_ARCH = "onnx"  # ArchSpec name of a foreign file: it has no torch architecture (params/MACs from the graph)
INT8_OPS = {"QuantizeLinear", "QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger"}


def _dims(vi: onnx.ValueInfoProto) -> list[int | str | None]:
    """A value's dims: ints where fixed, the symbol (or None) where dynamic."""
    dims = vi.type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else (d.dim_param or None) for d in dims]


def graph_input(model: onnx.ModelProto, path: Path) -> tuple[str, list[int | str | None]]:
    """The file's one image input (name, dims); other inputs (or none) are an error."""
    inits = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    if len(inputs) != 1:
        names = ", ".join(i.name for i in inputs) or "none"
        raise ArtifactError(f"{path}: expected one image input (N×C×H×W), found {len(inputs)} ({names})")
    dims = _dims(inputs[0])
    if len(dims) != 4:
        raise ArtifactError(f"{path}: input {inputs[0].name!r} has rank {len(dims)}; expected an image batch N×C×H×W")
    return inputs[0].name, dims


def _shape_text(dims: list[int | str | None]) -> str:
    return "×".join(str(d) if d is not None else "?" for d in dims)


def _fixed(dim: int | str | None, given: Any, old: Any, path: Path, what: str, flag: str) -> Any:
    """One input dim: the file's when fixed (a different option is an error), else the option, else the earlier one."""
    if isinstance(dim, int):
        if given is not None and given != dim:
            raise ConfigError(f"{path}: the file's input has {what} {dim}; {flag} {given} does not match it")
        return dim
    if given is not None:
        return given
    return old


def _input_size(dims: list[int | str | None], opts: dict[str, Any], old: dict[str, Any], path: Path, name: str
                ) -> tuple[int, int]:
    size = opts.get("input_size")
    given = (size, size) if isinstance(size, int) else tuple(size) if size is not None else (None, None)
    before = tuple(old.get("input_size") or (None, None))
    h = _fixed(dims[2], given[0], before[0], path, "height", "--input-size")
    w = _fixed(dims[3], given[1], before[1], path, "width", "--input-size")
    if h is None or w is None:
        raise ConfigError(f"{path}: input {name!r} has dynamic spatial dims ({_shape_text(dims)}); pass --input-size "
                          f"H×W (e.g. --input-size 224)")
    return int(h), int(w)


def _stats(key: str, opts: dict[str, Any], old: dict[str, Any], channels: int, path: Path) -> list[float]:
    vals = opts.get(key, old.get(key))
    if vals is None:
        raise ConfigError(f"{path}: a foreign ONNX file (no edgevision metadata) needs its normalization once: pass "
                          f"--mean and --std (per channel, 0–1 scale; --mean 0 --std 1 for none)")
    vals = [float(v) for v in vals]
    if len(vals) == 1:
        vals *= channels
    if len(vals) != channels:
        raise ConfigError(f"{path}: --{key} has {len(vals)} values; expected 1 or {channels} (one per channel)")
    if key == "std" and min(vals) <= 0:
        raise ConfigError(f"{path}: --std {','.join(map(str, vals))}: expected positive values")
    return vals


def _classes(opts: dict[str, Any], old_task: dict[str, Any], k: int, path: Path) -> list[str]:
    if opts.get("labels") is not None:
        lp = Path(opts["labels"])
        if not lp.is_file():
            raise ConfigError(f"--labels {lp}: no such file (expected a text file, one class name per line)")
        names = [s.strip() for s in lp.read_text(encoding="utf-8", errors="replace").splitlines() if s.strip()]
    else:
        names = opts.get("classes") or old_task.get("class_names") or [str(i) for i in range(k)]
    if len(names) != k:
        src = f"--labels {opts['labels']}" if opts.get("labels") else "--classes"
        raise ConfigError(f"{path}: {src} names {len(names)} classes; the model's output has {k}")
    return list(names)


def _probe(path: Path, shape: tuple[int, int, int]) -> np.ndarray:
    """The first output on one zero image: it checks that the described input runs."""
    try:
        session = ort_session(path, 1)
        return run_session(session, np.zeros((1, *shape), np.float32))[0]
    except Exception as e:
        raise ConfigError(f"{path}: onnxruntime cannot run it on a {'×'.join(map(str, (1, *shape)))} input "
                          f"({cause_of(e, 160)}); check --input-size and --channels") from None


def _task(opts: dict[str, Any], old_task: dict[str, Any], out: np.ndarray, path: Path) -> dict[str, Any]:
    default = {2: "classification", 4: "segmentation"}.get(out.ndim)
    name = opts.get("task") or old_task.get("name") or default
    want = {"classification": 2, "segmentation": 4}
    if name is None or want.get(name) != out.ndim:
        got = "×".join(map(str, out.shape))
        raise ConfigError(f"{path}: the first output is {got}; expected class logits B×K (--task classification) or "
                          f"per-pixel logits B×K×H×W (--task segmentation)")
    classes = _classes(opts, old_task if old_task.get("name") == name else {}, int(out.shape[1]), path)
    return TASKS.get(name)(class_names=classes).to_dict()


def describe(path: str | Path, opts: dict[str, Any], old: dict[str, Any] | None = None) -> dict[str, Any]:
    """The metadata of a foreign file from the options ``opts`` (``input_size``, ``channels``, ``mean``, ``std``,
    ``task``, ``classes``, ``labels``), the graph, and its earlier description ``old``; raises on anything missing."""
    path, old = Path(path), old or {}
    model = onnx.load(str(path), load_external_data=False)
    name, dims = graph_input(model, path)
    pre_old, task_old = dict(old.get("preprocess") or {}), dict(old.get("task") or {})
    c = _fixed(dims[1], opts.get("channels"), pre_old.get("channels"), path, "channels", "--channels")
    if c not in (1, 3):
        raise ConfigError(f"{path}: input {name!r} is {_shape_text(dims)}; pass --channels 1 or 3" if c is None else
                          f"{path}: input {name!r} has {c} channels; edgevision feeds images of 1 or 3")
    h, w = _input_size(dims, opts, pre_old, path, name)
    pre = {"input_size": [h, w], "channels": int(c), "mean": _stats("mean", opts, pre_old, c, path),
           "std": _stats("std", opts, pre_old, c, path), "resize": "stretch", "color": "RGB" if c == 3 else "GRAY",
           "scale": 1 / 255}
    task = _task(opts, task_old, _probe(path, (c, h, w)), path)
    precision = "int8" if any(n.op_type in INT8_OPS for n in model.graph.node) else "fp32"
    return {"foreign": True, "version": __version__, "precision": old.get("precision", precision),
            "arch": {"name": FOREIGN_ARCH, "kwargs": {"file": path.name}}, "task": task, "preprocess": pre,
            "input": {"name": name, "layout": "NCHW", "dtype": "float32", "shape": [dims[0] or "batch", c, h, w]},
            "meta": old.get("meta") or {}, "source": old.get("source", str(path))}


def record(path: str | Path, meta: dict[str, Any]) -> bool:
    """Write ``meta`` into the file (atomic, in place); a read-only file is left as it is (returns False)."""
    try:
        write_metadata(path, meta)
    except OSError as e:
        console.print(f"note: {path}: could not record its description ({e.strerror or e}); pass the same options "
                      f"next time", highlight=False, soft_wrap=True)
        return False
    console.print(f"described {path}: its preprocessing and task are now in its metadata (later verbs need no "
                  f"options)", highlight=False, soft_wrap=True)
    return True


def is_foreign(meta: dict[str, Any]) -> bool:
    """Whether a file's edgevision metadata is a user's description (or absent), not an edgevision export."""
    return bool(meta.get("foreign")) or not all(k in meta for k in ("arch", "task", "preprocess"))


def conflicts(meta: dict[str, Any], opts: dict[str, Any]) -> list[str]:
    """Options that disagree with what an edgevision artifact records about itself (flag names)."""
    pre, task = meta.get("preprocess") or {}, meta.get("task") or {}
    size = opts.get("input_size")
    have = {"input_size": [size, size] if isinstance(size, int) else list(size) if size is not None else None,
            "channels": opts.get("channels"), "mean": list(opts["mean"]) if "mean" in opts else None,
            "std": list(opts["std"]) if "std" in opts else None, "task": opts.get("task"),
            "classes": opts.get("classes")}
    recorded = {"input_size": list(pre.get("input_size") or []), "channels": pre.get("channels"),
                "mean": list(pre.get("mean") or []), "std": list(pre.get("std") or []), "task": task.get("name"),
                "classes": task.get("class_names")}
    bad = [k for k, v in have.items() if v is not None and _differs(v, recorded[k])]
    return ["--" + k.replace("_", "-") for k in bad] + (["--labels"] if opts.get("labels") else [])


def _differs(a: Any, b: Any) -> bool:
    if isinstance(a, list) and isinstance(b, list) and a and all(isinstance(v, int | float) for v in a + b):
        return len(a) != len(b) or not np.allclose(a, b, rtol=0, atol=1e-6)
    return a != b


def _describe_once(path: Path, opts: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    """:func:`describe` with the file's earlier description; a file never described, given no options, raises
    :class:`UndescribedError` (same message) so that a verb with other flags can say what to pass instead."""
    old = meta if meta.get("foreign") else {}
    try:
        return describe(path, opts, old)
    except ConfigError as e:
        if opts or old:
            raise
        raise UndescribedError(str(e)) from None


@LOADERS.register(".onnx", description="an ONNX file: an edgevision export, or a foreign file described once with "
                  "--input-size/--mean/--std/--task/--classes")
def load_onnx(path: Path, description: dict[str, Any] | None = None) -> Artifact:
    """Load an ``.onnx`` file as an :class:`Artifact` whose ``model`` runs in onnxruntime.

    An edgevision export describes itself (``description`` options must agree with it). A foreign file is described
    by ``description`` and its earlier description; new or changed options are recorded in the file (:func:`record`).
    """
    meta = read_metadata(path, verify=True)
    opts = dict(description or {})
    if not is_foreign(meta):
        if bad := conflicts(meta, opts):
            raise ConfigError(f"{path}: an edgevision export records its own preprocessing and task; {', '.join(bad)} "
                              f"(for foreign ONNX files) disagree with it: drop them")
    else:
        new = _describe_once(path, opts, meta)
        if opts and any(new.get(k) != meta.get(k) for k in ("preprocess", "task", "input")):
            record(path, {**{k: v for k, v in meta.items() if k != "format"}, **new})  # keeps e.g. int8 facts
        meta = new
    try:
        ort_session(path, 1)
    except Exception as e:
        raise ArtifactError(f"{path}: onnxruntime cannot load it ({cause_of(e)})") from None
    art_meta = dict(meta.get("meta") or {})
    art_meta.update(precision=meta.get("precision", "fp32"), source=meta.get("source"))
    if meta.get("foreign"):
        art_meta["foreign"] = True
    return Artifact(OnnxModule(path), ArchSpec.from_dict(meta["arch"]), meta["task"], meta["preprocess"], path,
                    art_meta)
