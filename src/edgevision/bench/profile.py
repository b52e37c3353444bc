"""The ``profile`` stage: what a model costs.

Reports parameters and fp32 bytes, file bytes, MACs (multiply-accumulates of conv/linear/matmul at batch 1),
latency p50/p90 at batch 1 after a warm-up for torch eager, onnxruntime and OpenVINO (when its extra is installed;
fp32 from the same ONNX graph, or an exported IR at its own precision), throughput at batch N, and the
process's peak resident memory. All engines run in the same process with the same thread count, so their
ratios are comparable.
"""

from __future__ import annotations

import resource
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import onnx
import torch
from torch import nn

from .. import shipped
from ..artifacts import load_artifact
from ..config import dump
from ..configs.bench import PROFILE_ENGINES, ProfileConfig
from ..deploy import openvino as ovx
from ..deploy import runtimes
from ..deploy.foreign import FOREIGN_ARCH, graph_input, is_foreign
from ..deploy.onnx import export_onnx, ort_session, read_metadata, run_session
from ..deploy.onnxstats import onnx_macs, onnx_params
from ..errors import ConfigError, EdgevisionError, suggest
from ..models import MODELS, build_from_spec, build_model, count_params, default_input
from ..models.base import resolve
from ..models.complexity import count_macs
from ..models.refs import is_reference
from ..models.weights import load_weights
from ..runs import RunDir, machine, make_card
from ..stages import StageResult, run_stage, stage
from ..train.objects import module_input
from ..utils.io import write_json
from ..utils.shapes import parse_shape
from ..utils.timing import measure


def _open(cfg: ProfileConfig) -> tuple[nn.Module | None, tuple[int, ...], dict[str, Any]]:
    """Model, input shape and description of ``cfg.target`` (a model reference or an artifact)."""
    target, input_text = cfg.target, cfg.input_size
    p = Path(target)
    if target in MODELS or (is_reference(target) and not p.exists()):
        shape = parse_shape(input_text, 3) if input_text else default_input(target)
        model = build_model(target, **{**({"in_channels": shape[0]} if shape[0] != 3 else {}), **cfg.model_kwargs})
        if cfg.weights:
            load_weights(model, cfg.weights, cfg.weights_strict)
        source = resolve(target)
        kind = "registry" if source.registered else "reference"
        return model.eval(), shape, {"name": source.label, "kind": kind, "file_bytes": None}
    if not p.exists() and shipped.path(target):
        p = shipped.path(target)
    elif not p.exists():
        raise EdgevisionError(f"{target!r} is neither a registered model{suggest(target, MODELS.names())}, "
                              f"a shipped model{suggest(target, shipped.names())} nor an existing artifact path")
    if p.suffix == ".onnx" and is_foreign(read_metadata(p, verify=True)):
        return _open_foreign(p, input_text)
    art = load_artifact(p)
    shape = parse_shape(input_text, 3) if input_text else art.input_shape
    size = ovx.ir_bytes(art.path) if art.path.suffix == ".xml" else runtimes.file_bytes(art.path)
    desc = {"name": art.arch.label, "kind": art.path.suffix, "file_bytes": size, "path": str(art.path)}
    if file_engines(art.path.suffix):  # run the file itself; count params/MACs on the architecture it records
        return build_from_spec(art.arch).eval(), shape, {**desc, "file": art.path,
                                                           "precision": art.meta.get("precision", "fp32")}
    return art.model, shape, desc


def _open_foreign(path: Path, input_text: str | None) -> tuple[None, tuple[int, ...], dict[str, Any]]:
    """A foreign ONNX file needs only its input shape here (``--input`` where its dims are dynamic)."""
    meta = read_metadata(path)
    if input_text:
        shape = parse_shape(input_text, 3)
    elif meta.get("preprocess"):
        shape = (int(meta["preprocess"]["channels"]), *map(int, meta["preprocess"]["input_size"]))
    else:
        _, dims = graph_input(onnx.load(str(path), load_external_data=False), path)
        if not all(isinstance(d, int) for d in dims[1:]):
            raise ConfigError(f"{path}: input dims {'×'.join(str(d or '?') for d in dims)} are dynamic; pass --input "
                              f"C×H×W (e.g. --input 3x224x224)")
        shape = tuple(dims[1:])
    counts = {"params": onnx_params(path), "macs": onnx_macs(path, shape)}
    return None, shape, {"name": FOREIGN_ARCH, "kind": ".onnx", "file_bytes": path.stat().st_size,
                         "path": str(path), "file": path, "counts": counts}


def file_engines(suffix: str) -> tuple[str, ...]:
    """The engines that run a file kind: an .onnx in onnxruntime and openvino, an .xml in openvino, a .tflite in
    litert, a .pte in executorch."""
    rt = runtimes.for_suffix(suffix)
    return (rt.engine,) if rt else {".onnx": ("onnxruntime", "openvino"), ".xml": ("openvino",)}.get(suffix, ())


def _engines(cfg: ProfileConfig, file: Path | None) -> list[str]:
    """The engines to time: an on-device runtime on a model needs its converter, and is dropped from the default
    list without it (asked for by name, the missing converter is one line)."""
    engines = list(cfg.engines)
    for rt in runtimes.RUNTIMES.values():
        if rt.engine in engines and file is None and not rt.can_convert():
            if "engines" in cfg.model_fields_set:
                raise ConfigError(f"--engines {rt.engine}: a model needs converting first, and {rt.convert_hint()}")
            engines.remove(rt.engine)
    return engines


def _runner(eng: str, model: nn.Module | None, shape: tuple[int, ...], threads: int, tmp: Path, file: Path | None,
            precision: str) -> Callable[[torch.Tensor], Any]:
    """``run(x)`` of ``eng``: torch eager, onnxruntime on ``file`` (or the model exported once), OpenVINO on an IR
    ``file`` at its precision (or on the ONNX graph converted, fp32)."""
    if eng == "torch":
        return model
    if file is not None and file.suffix == ".xml":
        run = ovx.runner(file, threads, precision)
        return lambda x: run(x.numpy())
    if rt := runtimes.for_engine(eng):
        if file is None or file.suffix != rt.suffix:
            file = rt.convert(model, shape, tmp / f"model{rt.suffix}")
        run = rt.runner(file, threads)
        return lambda x: run(x.numpy())
    path = file or tmp / "model.onnx"
    if not path.exists():
        export_onnx(model, path, shape)
    if eng == "openvino":
        run = ovx.runner(ovx.convert(path), threads, "fp32")
        return lambda x: run(x.numpy())
    sess = ort_session(path, threads)
    return lambda x: run_session(sess, x.numpy())


def profile_model(model: nn.Module | None, shape: tuple[int, ...], threads: int | None = None, batch: int = 8,
                  engines: list[str] = PROFILE_ENGINES, budget_s: float = 1.0, onnx_file: Path | None = None,
                  counts: dict[str, int] | None = None, precision: str = "fp32") -> dict[str, Any]:
    """Measure ``model`` at input ``shape`` (C, H, W); returns the stable profile dict (see module doc).

    With ``onnx_file`` (an exported or quantized ``.onnx``, or an OpenVINO ``.xml``), the engines run that file
    (an IR in openvino only) and ``model`` is only used to count params and MACs; the torch engine is skipped.
    A foreign ONNX file has no torch model: ``counts`` gives its params and MACs (:mod:`edgevision.deploy.onnxstats`).
    """
    if onnx_file is not None:
        engines = [e for e in engines if e in file_engines(onnx_file.suffix)]
        if not engines:
            raise EdgevisionError(f"{onnx_file}: none of the engines asked for runs this file (an .xml runs in "
                                  f"openvino, an .onnx in onnxruntime or openvino, a .tflite in litert, a .pte in "
                                  f"executorch)")
    threads = threads or torch.get_num_threads()
    prev = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        macs = counts["macs"] if counts else count_macs(model.eval(), shape)
    except Exception as e:
        raise EdgevisionError(f"the model cannot run on input {'x'.join(map(str, shape))}: "
                              f"{str(e).splitlines()[0][:160]}") from None
    params = counts["params"] if counts else count_params(model)
    res: dict[str, Any] = {"input_shape": list(shape), "threads": threads, "params": params, "fp32_bytes": params * 4,
                           "macs": macs, "macs_note": "multiply-accumulates (conv/linear/matmul) at batch 1",
                           "latency": {}, "throughput": {}}
    x1, xb = torch.randn(1, *shape), torch.randn(batch, *shape)
    try:
        with tempfile.TemporaryDirectory() as tmp, torch.inference_mode():
            for eng in engines:
                fn = _runner(eng, model, shape, threads, Path(tmp), onnx_file, precision)
                lat = measure(lambda f=fn: f(x1), budget_s=budget_s)
                thr = measure(lambda f=fn: f(xb), min_runs=3, budget_s=budget_s)
                res["latency"][eng] = {k: round(v, 4) if isinstance(v, float) else v for k, v in lat.items()}
                res["throughput"][eng] = {"batch": batch, "images_per_s": round(batch * 1000 / thr["p50_ms"], 2)}
    finally:
        torch.set_num_threads(prev)
    res["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    res["machine"] = machine()
    return res


@stage("profile", ProfileConfig, input_field="target", summary="params, MACs, latency, throughput, memory")
def run_profile(cfg: ProfileConfig, out: Path) -> StageResult:
    model, shape, desc = _open(cfg)
    res = {"target": cfg.target, "model": desc["name"], "kind": desc["kind"], "file_bytes": desc["file_bytes"],
           **profile_model(model, shape, cfg.threads, cfg.batch, _engines(cfg, desc.get("file")), cfg.budget_s,
                           desc.get("file"), desc.get("counts"), desc.get("precision", "fp32"))}
    run = RunDir(out).mkdir()
    run.write_config(dump(cfg))
    write_json(run.path / "profile.json", res)
    card = make_card("profile", model={"name": desc["name"]}, parent=desc.get("path"), params=res["params"],
                     macs=res["macs"], latency=res["latency"], throughput=res["throughput"],
                     peak_rss_mb=res["peak_rss_mb"], input_shape=res["input_shape"], threads=res["threads"],
                     profiled_file_bytes=res["file_bytes"])
    run.write_card(card)
    return StageResult(run.path, None, {**card, "profile": res})


def format_profile(res: dict[str, Any]) -> str:
    lines = [f"{res['model']}  input {'x'.join(map(str, res['input_shape']))}  threads {res['threads']}",
             f"  params      {res['params']:,}  ({res['fp32_bytes'] / 1e6:.2f} MB fp32)",
             f"  file        {res['file_bytes']:,} bytes" if res.get("file_bytes") else "  file        -",
             f"  MACs        {res['macs']:,}  ({res['macs'] / 1e9:.3f} G, {res['macs_note']})"]
    for eng, lat in res["latency"].items():
        thr = res["throughput"][eng]
        lines.append(f"  {eng:<12}batch 1: p50 {lat['p50_ms']:.3f} ms, p90 {lat['p90_ms']:.3f} ms;  "
                     f"batch {thr['batch']}: {thr['images_per_s']:.1f} img/s")
    lines.append(f"  peak RSS    {res['peak_rss_mb']} MB (whole process)")
    return "\n".join(lines)


def profile(target: str | Path | nn.Module, out: str | Path | None = None, **options: Any) -> StageResult:
    """Profile a model reference, an artifact or a model object; ``card['profile']`` holds the full measurement."""
    target, out, options = module_input(target, "profile", out, options, keep=("input_size",))
    return run_stage("profile", {"target": str(target), **options}, out)


def list_models(pretrained: bool = False) -> list[dict[str, Any]]:
    """Every registered model with its params and MACs at its default input (not the entries registered with
    ``listed=False``, such as the onnx2torch converter, which cannot be built without a file); with
    ``pretrained``, the shipped models instead (:func:`edgevision.shipped.listing`)."""
    if pretrained:
        return shipped.listing()
    rows = []
    for e in MODELS:
        if e.meta.get("listed") is False:
            continue
        m = build_model(e.name)
        shape = default_input(e.name)
        rows.append({"name": e.name, "family": e.meta.get("family", ""), "params": count_params(m),
                     "macs": count_macs(m, shape), "input": "x".join(map(str, shape)),
                     "description": e.meta.get("description", "")})
    return rows


def describe(res: StageResult) -> str:
    """The profile table and where it was saved (``edgevision profile``'s output)."""
    return f"{format_profile(res.card['profile'])}\nsaved {res.run_dir / 'profile.json'}"


def describe_models(rows: list[dict[str, Any]]) -> str:
    """``edgevision models``: one line per registered architecture (or per shipped model)."""
    if not rows or "bytes" in rows[0]:
        return shipped.describe(rows)
    lines = [f"{'model':<16}{'params':>14}{'MACs':>16}  {'input':<11}description"]
    lines += [f"{r['name']:<16}{r['params']:>14,}{r['macs']:>16,}  {r['input']:<11}{r['description']}" for r in rows]
    return "\n".join(lines)
