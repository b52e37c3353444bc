"""``edgevision quantize``: int8 PTQ with calibration comparison, sensitivity exclusion and QAT; or fp16/bf16.

int8, step by step (steps 2 and 3 only when the previous one loses more than ``tolerance`` points on val):

0. the float stem (:mod:`.int8_stem`): with ``stem="auto"`` a narrow-input first conv (and the conv behind a
   following pool) stays in float when that is measured faster in onnxruntime;
1. export fp32 ONNX, calibrate on ``calib_samples`` train images with each requested method (``best`` tries
   MinMax, Entropy and Percentile) and keep the best on the val split;
2. leave-one-out sensitivity: keep the layers whose float fallback helps most in fp32, up to ``max_exclude``;
3. QAT: fold BatchNorm, fine-tune with fake quantization (:mod:`.qat`), re-export and re-quantize.

The report compares int8 against fp32 *on the same engine (onnxruntime) in the same run*: test accuracy,
file size, and batch-1 latency at ``threads`` threads in interleaved rounds — and says plainly when int8 is
not faster.
"""

from __future__ import annotations

import copy
import dataclasses
import tempfile
from pathlib import Path
from typing import Any

import onnx
import torch
from torch import nn

from ..artifacts import Artifact, load_artifact, save_model
from ..compress.finetune import FinetuneContext, already_done, eval_metrics, finetune, open_context, primary, say
from ..config import dump
from ..configs.deploy import QuantizeConfig
from ..errors import ConfigError, EdgevisionError
from ..runs import RunDir, make_card
from ..stages import StageResult, run_stage, stage
from ..train.objects import module_input
from ..train.trainer import scalars
from ..utils.io import write_json
from ..utils.timing import Phases
from .export import agreement_check, cv2_compatible, model_facts, onnx_metadata, parity_failure, torch_outputs
from .int8 import cpu
from .int8 import graph as q
from .int8.qat import FakeQuantized, fold_batchnorm
from .int8.stem import choose_stem, latency_pair
from .onnx import OnnxModule, export_onnx, write_metadata


def _onnx_metrics(path: Path, ctx: FinetuneContext, loader: Any) -> dict[str, Any]:

    return eval_metrics(OnnxModule(path), ctx, loader)


def _drop(ctx: FinetuneContext, ref: dict[str, Any], got: dict[str, Any]) -> float:
    a, b = primary(ctx, ref), primary(ctx, got)
    d = (a - b) * 100 if a is not None and b is not None else 0.0
    return -d if ctx.task.mode == "min" else d


def _export(model: torch.nn.Module, art: Artifact, path: Path, precision: str, **extra: Any) -> Path:
    """The fp32 ONNX file of ``model``; an ONNX input (:class:`OnnxModule`) is copied unchanged, not re-exported."""
    if isinstance(model, OnnxModule):
        path.write_bytes(model.path.read_bytes())
    else:
        export_onnx(model, path, art.input_shape)
        cv2_compatible(path)
    return write_metadata(path, onnx_metadata(art, model, precision, **extra))


def _check_onnx_input(cfg: QuantizeConfig, art: Artifact) -> None:
    """An ONNX input runs the int8 pipeline without its torch steps: fp32 files only, no QAT, no 16-bit storage."""
    if art.meta.get("precision", "fp32") != "fp32":
        raise ConfigError(f"{art.path}: already {art.meta['precision']}; quantize takes a float model")
    if cfg.precision != "int8":
        raise ConfigError(f"{art.path}: --precision {cfg.precision} stores torch weights in 16 bits; an ONNX file "
                          f"takes --precision int8")
    if cfg.qat == "on":
        raise ConfigError(f"{art.path}: --qat on fine-tunes a torch model; an ONNX file gets PTQ (calibration, "
                          f"sensitivity): use --qat auto or off")


class _Int8Run:
    """The int8 search for one artifact: state shared by the calibration, exclusion and QAT steps."""

    def __init__(self, cfg: QuantizeConfig, art: Artifact, ctx: FinetuneContext, run: RunDir, work: Path) -> None:
        self.cfg, self.art, self.ctx, self.run, self.work = cfg, art, ctx, run, work
        sp = ctx.splits
        self.calib = q.sample_array(sp.train, sp, cfg.calib_samples)
        self.val_x = q.sample_array(sp.val if len(sp.val) else sp.test, sp, 2000)
        self.holdout_x = self.val_x[: cfg.holdout]
        self.model = art.model
        self.fp32 = _export(self.model, art, run.path / "model.onnx", "fp32")
        self.holdout_ref = torch_outputs(self.model, self.holdout_x)
        self.report: dict[str, Any] = {"calibration": [], "sensitivity": [], "excluded": [], "qat": None}
        self.val_loader = ctx.val if len(sp.val) else ctx.test

    def agreement(self, path: Path) -> float:
        """Top-1 agreement of an int8 file with the torch model on the parity hold-out (as ``export`` checks)."""
        return q.agreement(q.run_onnx(path, self.holdout_x), self.holdout_ref)

    def short(self, path: Path, drop: float) -> bool:
        """Whether an int8 file still misses the bar: val drop over ``tolerance`` or agreement under the threshold."""
        return drop > self.cfg.tolerance or self.agreement(path) < self.cfg.min_agreement

    def prepare(self) -> Path:
        return q.prepare_for_int8(self.fp32, self.work / "prepared.onnx")

    def quantize(self, prepared: Path, method: str, exclude: list[str], tag: str = "") -> Path:
        return q.quantize_int8(prepared, self.work / f"{method}{tag}.int8.onnx", self.calib, method=method,
                               per_channel=self.cfg.per_channel, exclude_nodes=exclude,
                               percentile=self.cfg.percentile, cache=self.work / f"ranges-{method}{tag}.json",
                               reduce_range=self.cfg.reduce_range)

    def choose_method(self, prepared: Path, exclude: list[str]) -> tuple[str, Path, float]:
        """Calibrate with each method; keep the best primary metric on val (ties: agreement)."""
        methods = q.CALIBRATION if self.cfg.calibration == "best" else (self.cfg.calibration,)
        ref_val = q.run_onnx(self.fp32, self.val_x)
        self.fp32_val = _onnx_metrics(self.fp32, self.ctx, self.val_loader)
        best = None
        for m in methods:
            path = self.quantize(prepared, m, exclude)
            met = _onnx_metrics(path, self.ctx, self.val_loader)
            row = {"method": m, "val": scalars(met, ""), "drop_points": round(_drop(self.ctx, self.fp32_val, met), 3),
                   "agreement": q.agreement(q.run_onnx(path, self.val_x), ref_val)}
            self.report["calibration"].append(row)
            key = (-row["drop_points"], row["agreement"])
            if best is None or key > best[0]:
                best = (key, m, path, row["drop_points"])
        return best[1], best[2], best[3]

    def exclude_sensitive(self, prepared: Path, method: str, exclude: list[str], drop: float
                          ) -> tuple[Path | None, list[str], float]:
        """Greedily keep the most sensitive layers in float until the drop is within tolerance."""
        rows = q.sensitivity(prepared, self.work, self.calib, self.val_x, q.run_onnx(self.fp32, self.val_x),
                             method=method, per_channel=self.cfg.per_channel, exclude=exclude,
                             reduce_range=self.cfg.reduce_range)
        self.report["sensitivity"] = rows
        path, excl = None, list(exclude)
        for r in rows[: self.cfg.max_exclude]:
            excl.append(str(r["node"]))
            path = self.quantize(prepared, method, excl, tag=f"-x{len(excl)}")
            drop = _drop(self.ctx, self.fp32_val, _onnx_metrics(path, self.ctx, self.val_loader))
            if not self.short(path, drop):
                break
        return path, excl, drop

    def qat(self, method: str, exclude: list[str]) -> tuple[Path, float]:
        """Fold BN, fine-tune under fake quantization, re-export, re-quantize; returns (int8 file, val drop)."""

        model = copy.deepcopy(self.model)
        folded = fold_batchnorm(model, self.art.input_shape)
        exclude_layers = {q.module_path(n) for n in exclude}
        fq = FakeQuantized(model, skip=lambda p: p in exclude_layers)
        with torch.no_grad():  # initialise the activation ranges on calibration data
            model.eval()
            model(torch.from_numpy(self.calib[:64]))
        loop = finetune(model, self.ctx, self.cfg, self.run)
        fq.remove()
        model.eval()
        self.model = model
        save_model(self.run.path / "qat.pt", model, task=self.art.task, preprocess=self.art.preprocess,
                   meta={**self.art.meta, "stage": "qat"})
        fp32_qat = _export(model, self.art, self.work / "qat.onnx", "fp32")
        prepared = q.prepare_for_int8(fp32_qat, self.work / "qat.prepared.onnx")
        names = {n.name for n in onnx.load(str(prepared), load_external_data=False).graph.node}
        excl = [n for n in q.quantizable_nodes(prepared) if q.module_path(n) in exclude_layers]
        excl += [n for n in exclude if n in names and n not in excl]  # e.g. the pool of a float stem
        path = q.quantize_int8(prepared, self.work / "qat.int8.onnx", self.calib, method=method,
                               per_channel=self.cfg.per_channel, exclude_nodes=excl, percentile=self.cfg.percentile,
                               reduce_range=self.cfg.reduce_range)
        drop = _drop(self.ctx, self.fp32_val, _onnx_metrics(path, self.ctx, self.val_loader))
        self.report["qat"] = {"folded_batchnorm": folded, "val_drop_points": round(drop, 3), **loop}
        return path, drop


def _int8(cfg: QuantizeConfig, art: Artifact, ctx: FinetuneContext, run: RunDir) -> StageResult:
    phases = Phases()
    with tempfile.TemporaryDirectory() as tmp:
        with phases("export"):
            r = _Int8Run(cfg, art, ctx, run, Path(tmp))
            prepared = r.prepare()
        exclude = q.nodes_matching(prepared, cfg.exclude)
        with phases("stem choice"):
            stem, r.report["stem"] = choose_stem(
                prepared, lambda dst, ex: r.quantize(prepared, "minmax", ex, tag=f"-{dst.stem}"), exclude,
                cfg.stem, art.input_shape, cfg.timing_threads(), cfg.budget_s)
        if stem:
            say(f"quantize: stem {', '.join(q.module_path(n) or n for n in stem)} stays in float (faster int8)")
        exclude = exclude + stem
        with phases("calibration"):
            method, path, drop = r.choose_method(prepared, exclude)
        say(f"quantize: int8 ({method}) val drop {drop:.2f} points, agreement {r.agreement(path):.4f}")
        if r.short(path, drop) and cfg.auto_exclude and cfg.max_exclude:
            with phases("sensitivity"):
                p2, ex2, d2 = r.exclude_sensitive(prepared, method, exclude, drop)
            if p2 is not None and (d2, -r.agreement(p2)) < (drop, -r.agreement(path)):
                path, exclude, drop = p2, ex2, d2
                say(f"quantize: kept {len(exclude)} layer(s) in float → val drop {drop:.2f} points")
        if isinstance(r.model, OnnxModule) and cfg.qat == "auto" and r.short(path, drop):
            say("quantize: QAT needs a torch model; this ONNX input keeps its PTQ result")
        elif cfg.qat == "on" or (cfg.qat == "auto" and r.short(path, drop)):
            with phases("qat"):
                p3, d3 = r.qat(method, exclude)
            say(f"quantize: after QAT val drop {d3:.2f} points")
            if d3 < drop or cfg.qat == "on":
                path, drop = p3, d3
        final = run.path / "model.int8.onnx"
        final.write_bytes(path.read_bytes())
    return _finish_int8(cfg, art, ctx, run, r, final, method, exclude, phases)


def _finish_int8(cfg: QuantizeConfig, art: Artifact, ctx: FinetuneContext, run: RunDir, r: _Int8Run, final: Path,
                 method: str, exclude: list[str], phases: Phases) -> StageResult:
    write_metadata(final, onnx_metadata(art, r.model, "int8", calibration=method, per_channel=cfg.per_channel,
                                        excluded=exclude, qat=r.report["qat"] is not None,
                                        weight_bits=7 if cpu.reduce_range(cfg.reduce_range) else 8))
    parity = agreement_check(final, r.agreement(final), len(r.holdout_x), cfg.min_agreement)
    if not parity["pass"]:
        final.unlink()
        raise EdgevisionError(parity_failure(final, parity) + "; try --qat on, a larger --max-exclude, or --exclude")
    with phases("test accuracy"):
        m32, m8 = _onnx_metrics(r.fp32, ctx, None), _onnx_metrics(final, ctx, None)
    threads = cfg.timing_threads()
    with phases("latency"):
        timed = latency_pair({"fp32": r.fp32, "int8": final}, art.input_shape, threads, cfg.budget_s)
    lat, speedup, spread = timed["latency"], timed["speedup"]["int8"], timed["spread"]["int8"]
    drop = _drop(ctx, m32, m8)
    how = (f"{threads} thread(s), batch 1, {timed['rounds']} interleaved rounds, per-round {spread['min']:.2f}–"
           f"{spread['max']:.2f}×")
    verdict = (f"int8 is {speedup:.2f}× faster than fp32 in onnxruntime ({how})" if speedup > 1.02 else
               f"int8 is NOT faster than fp32 in onnxruntime on this model ({how}: {lat['int8']['p50_ms']:.3f} ms vs "
               f"{lat['fp32']['p50_ms']:.3f} ms)")
    verdict += f"; test {ctx.task.primary} {primary(ctx, m32):.4f} → {primary(ctx, m8):.4f} ({drop:+.2f} points drop)"
    say(f"quantize: {verdict}")
    say(phases.line("quantize"))
    res = {**r.report, "method": method, "excluded": exclude, "parity": parity,
           "fp32": {"test": scalars(m32, ""), "latency": lat["fp32"], "bytes": r.fp32.stat().st_size},
           "int8": {"test": scalars(m8, ""), "latency": lat["int8"], "bytes": final.stat().st_size},
           "speedup": round(speedup, 3), "speedup_rounds": timed["rounds"], "speedup_spread": spread,
           "speedup_stable": timed["stable"], "faster": speedup > 1.02, "drop_points": round(drop, 3),
           "threads": threads, "verdict": verdict, "phases_s": phases.as_dict()}
    write_json(run.path / "quantize.json", res)
    metrics = {"test": scalars(m8, ""), "fp32_test": scalars(m32, ""), "drop_points": round(drop, 3)}
    card = make_card("quantize", task=art.task, artifact=final, metrics=metrics, parent=str(art.path),
                     precision="int8", **model_facts(dataclasses.replace(art, model=r.model)),
                     input_shape=list(art.input_shape),
                     preprocess=art.preprocess, data=art.meta.get("data"), parity=parity,
                     latency={"engine": "onnxruntime", "threads": threads, **lat["int8"]},
                     speedup_vs_fp32=round(speedup, 3), verdict=verdict)
    run.write_card(card)
    return StageResult(run.path, final, card)


def _half(cfg: QuantizeConfig, art: Artifact, ctx: FinetuneContext, run: RunDir) -> StageResult:
    """fp16/bf16 weight storage: half the file, fp32 compute; accuracy of the rounded weights is measured."""
    before = eval_metrics(art.model, ctx)
    rounded = q.rounded_copy(art.model, cfg.precision)
    after = eval_metrics(rounded, ctx)
    path = save_model(run.path / "model.pt", q.half_storage(art.model, cfg.precision), task=art.task,
                      preprocess=art.preprocess, meta={**art.meta, "precision": cfg.precision})
    drop = _drop(ctx, before, after)
    size0, size1 = art.path.stat().st_size, path.stat().st_size
    verdict = (f"{cfg.precision} weight storage: file {size0:,} → {size1:,} bytes ({size1 / size0:.2f}×), test "
               f"{ctx.task.primary} {primary(ctx, before):.4f} → {primary(ctx, after):.4f} ({drop:+.2f} points "
               f"drop); compute stays fp32, so latency is unchanged")
    say(f"quantize: {verdict}")
    write_json(run.path / "quantize.json", {"precision": cfg.precision, "bytes_before": size0, "bytes_after": size1,
                                            "parent": {"test": scalars(before, "")}, "test": scalars(after, ""),
                                            "drop_points": round(drop, 3), "verdict": verdict})
    card = make_card("quantize", task=art.task, artifact=path,
                     metrics={"test": scalars(after, ""), "drop_points": round(drop, 3)}, parent=str(art.path),
                     precision=cfg.precision, **model_facts(art), input_shape=list(art.input_shape),
                     preprocess=art.preprocess, data=art.meta.get("data"), verdict=verdict)
    run.write_card(card)
    return StageResult(run.path, path, card)


@stage("quantize", QuantizeConfig, input_field="artifact",
       summary="int8 (PTQ, calibration, sensitivity, QAT) or fp16/bf16 storage, measured against fp32")
def run_quantize(cfg: QuantizeConfig, out: Path) -> StageResult:

    run = RunDir(out)
    if (done := already_done(run, cfg)) is not None:  # reuse with --resume; never overwrite a finished run
        return done
    art = load_artifact(cfg.artifact, cfg.onnx_description())
    is_onnx = isinstance(art.model, OnnxModule)
    if is_onnx:
        _check_onnx_input(cfg, art)
    ctx = open_context(cfg, art, trainable=not is_onnx)
    if is_onnx and not art.meta.get("data"):  # the int8 file records its data, so eval and bench need no --data
        art.meta["data"] = ctx.data_cfg.model_dump(mode="json")
    run.mkdir().write_config(dump(cfg))
    return _half(cfg, art, ctx, run) if cfg.precision in ("fp16", "bf16") else _int8(cfg, art, ctx, run)


def quantize(artifact: str | Path | nn.Module, out: str | Path | None = None, **options: Any) -> StageResult:
    """Quantize an artifact (``edgevision quantize``): int8 with measured speed and accuracy, or fp16/bf16.

    Example:
        >>> edgevision.quantize("runs/mnist/train", calibration="best", tolerance=1.0, qat="auto")
    """
    artifact, out, options = module_input(artifact, "quantize", out, options)
    return run_stage("quantize", {"artifact": str(artifact), **options}, out)
