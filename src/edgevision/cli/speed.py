"""Verbs that make a model faster and measure it: shrink, quantize, lowrank, export, bench."""

from __future__ import annotations

import argparse

from ..utils.progress import console
from .common import add_common, add_finetune, csv, emit_json, finetune_opts, options, parser_kwargs

STEM_HELP = ("int8: auto (default) keeps a 1-4 channel input conv (and the conv after its pool) in float when "
             "that is measured faster; int8 or float to force")


def _print_model_result(res, as_json: bool) -> None:
    if as_json:
        emit_json(res.card)
        return
    m = res.card.get("metrics") or {}
    test = m.get("test") or {}
    prim = m.get("primary") or ("top1" if "top1" in test else None)
    tail = f"  (test {prim} {test[prim]:.4f}, drop {m.get('drop_points')} points)" if prim in test else ""
    print(f"saved {res.artifact}  params {res.card.get('params'):,}  MACs {res.card.get('macs'):,}{tail}")


def add_shrink(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("shrink", **parser_kwargs(
        "structured pruning: remove whole channels (coupled across residual adds, concats, depthwise convs), "
        "rebuild smaller layers, fine-tune", "edgevision shrink runs/qs/train --macs 0.5 --importance taylor "
        "--epochs 3 --out runs/qs/shrink"))
    p.add_argument("artifact", help="model file (.pt/.evz) or run folder")
    p.add_argument("--ratio", type=float, help="fraction of channels to remove")
    p.add_argument("--macs", type=float, help="fraction of MACs to remove (instead of --ratio)")
    p.add_argument("--importance", help="l1, l2, bn_scale or taylor")
    p.add_argument("--scope", help="uniform (same ratio per group) or global (ranked across groups)")
    p.add_argument("--round-to", help="kept widths are multiples of this (default auto: 16 on AVX-512, 8 on AVX2)")
    p.add_argument("--max-ratio", type=float, help="no group loses more than this fraction (default 0.9)")
    p.add_argument("--ignore", help="comma-separated globs of layer paths to leave alone")
    add_finetune(p)
    add_common(p)
    p.set_defaults(func=cmd_shrink)


def cmd_shrink(args: argparse.Namespace) -> None:
    from ..compress.shrink import shrink

    flags = {"ratio": args.ratio, "macs": args.macs, "importance": args.importance, "scope": args.scope,
             "round_to": args.round_to, "max_ratio": args.max_ratio, "ignore": csv(args.ignore),
             **finetune_opts(args)}
    _print_model_result(shrink(args.artifact, out=args.out, **options(args, flags)), args.json)


def add_quantize(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("quantize", **parser_kwargs(
        "int8 (static PTQ in onnxruntime, calibration comparison, sensitivity exclusion, QAT) or fp16/bf16 "
        "weight storage; reports accuracy and speed against fp32 on the same engine",
        "edgevision quantize runs/qs/train --calibration best --tolerance 1 --qat auto --out runs/qs/int8"))
    p.add_argument("artifact", help="float model file (.pt/.evz) or run folder")
    p.add_argument("--precision", help="int8 (default), fp16 or bf16")
    p.add_argument("--calibration", help="minmax, entropy, percentile or best (tries all three)")
    p.add_argument("--calib-samples", type=int, help="train samples for calibration (default 256)")
    p.add_argument("--per-tensor", dest="per_channel", action="store_false", default=None,
                   help="one weight scale per tensor instead of per output channel")
    p.add_argument("--exclude", help="comma-separated globs of layer paths kept in float")
    p.add_argument("--stem", help=STEM_HELP)
    p.add_argument("--tolerance", type=float, help="allowed accuracy drop in points (default 1)")
    p.add_argument("--no-auto-exclude", dest="auto_exclude", action="store_false", default=None)
    p.add_argument("--qat", help="auto (default: when PTQ is over tolerance), on or off")
    add_finetune(p, "QAT epochs (default 2)")  # its --threads also sets the latency comparison's (default 1)
    add_common(p)
    p.set_defaults(func=cmd_quantize)


def cmd_quantize(args: argparse.Namespace) -> None:
    from ..compress.quantize_stage import quantize

    flags = {"precision": args.precision, "calibration": args.calibration, "calib_samples": args.calib_samples,
             "per_channel": args.per_channel, "exclude": csv(args.exclude), "tolerance": args.tolerance,
             "auto_exclude": args.auto_exclude, "qat": args.qat, "stem": args.stem,
             **finetune_opts(args)}
    res = quantize(args.artifact, out=args.out, **options(args, flags))
    if args.json:
        emit_json(res.card)
    else:
        print(f"saved {res.artifact}: {res.card.get('verdict')}")


def add_lowrank(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lowrank", **parser_kwargs(
        "low-rank factorization: SVD of linear layers, k×k conv → k×1 + 1×k, or conv → depthwise-separable; "
        "then fine-tuning", "edgevision lowrank runs/mnist/train --method svd --energy 0.8 --epochs 2"))
    p.add_argument("artifact", help="model file (.pt/.evz) or run folder")
    p.add_argument("--method", help="svd (linear), separable (k×1+1×k) or dwsep (depthwise + pointwise)")
    p.add_argument("--layers", help="comma-separated globs of layer paths (default: all eligible)")
    p.add_argument("--energy", type=float, help="kept fraction of the squared singular values (default 0.9)")
    p.add_argument("--rank", type=int, help="fixed rank")
    p.add_argument("--rank-ratio", type=float, help="rank as a fraction of full rank")
    add_finetune(p)
    add_common(p)
    p.set_defaults(func=cmd_lowrank)


def cmd_lowrank(args: argparse.Namespace) -> None:
    from ..compress.lowrank import lowrank

    flags = {"method": args.method, "layers": csv(args.layers), "energy": args.energy, "rank": args.rank,
             "rank_ratio": args.rank_ratio, **finetune_opts(args)}
    _print_model_result(lowrank(args.artifact, out=args.out, **options(args, flags)), args.json)


def add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", **parser_kwargs(
        "export to ONNX (opset ≥ 17, dynamic batch, self-describing metadata) with fp16/bf16/int8 variants; "
        "every file is parity-checked in onnxruntime and cv2.dnn",
        "edgevision export runs/qs/train --format onnx --int8 --fp16 --out runs/qs/export"))
    p.add_argument("artifact", help="model file (.pt/.evz) or run folder")
    p.add_argument("--format", help="onnx (default) or pt")
    p.add_argument("--int8", action="store_true", default=None, help="also write a calibrated int8 file")
    p.add_argument("--fp16", action="store_true", default=None, help="also write fp16 weight storage")
    p.add_argument("--bf16", action="store_true", default=None, help="also write bf16 weight storage")
    p.add_argument("--opset", type=int)
    p.add_argument("--static-batch", dest="dynamic_batch", action="store_false", default=None)
    p.add_argument("--calibration", help="minmax (default), entropy or percentile")
    p.add_argument("--exclude", help="comma-separated globs of layer paths kept in float in the int8 file")
    p.add_argument("--stem", help=STEM_HELP)
    p.add_argument("--cv2", help="check (default: warn on failure), require or off")
    p.add_argument("--data", help="data source for calibration and parity (default: the artifact's)")
    add_common(p)
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> None:
    from ..deploy.export import export

    flags = {"format": args.format, "int8": args.int8, "fp16": args.fp16, "bf16": args.bf16, "opset": args.opset,
             "dynamic_batch": args.dynamic_batch, "calibration": args.calibration, "exclude": csv(args.exclude),
             "stem": args.stem, "cv2": args.cv2, "data.source": args.data}
    res = export(args.artifact, out=args.out, **options(args, flags))
    if args.json:
        emit_json(res.card)


def add_bench(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", **parser_kwargs(
        "one table: accuracy, size, params, MACs, latency p50/p90, throughput, GMAC/s and %% of peak, per "
        "artifact × engine (torch, onnxruntime, cv2.dnn) × precision × threads",
        "edgevision bench runs/qs/train runs/qs/export --threads 1,2 --json"))
    p.add_argument("artifacts", nargs="+", help="model files (.pt/.onnx/.evz) or run folders")
    p.add_argument("--data", help="data source for accuracy (default: each artifact's)")
    p.add_argument("--split", help="train, val or test (default test)")
    p.add_argument("--limit", type=int, help="samples used for accuracy")
    p.add_argument("--threads", help="comma-separated thread counts (default 1)")
    p.add_argument("--engines", help="comma-separated: torch,onnxruntime,cv2")
    p.add_argument("--torch-bf16", action="store_true", default=None, help="also time torch in bf16 compute")
    p.add_argument("--batch", type=int, help="throughput batch size (default 32)")
    p.add_argument("--budget", type=float, help="seconds of timing per row and batch size (default 1)")
    p.add_argument("--labels", help="comma-separated row labels, one per artifact")
    add_common(p)
    p.set_defaults(func=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> None:
    from ..bench.bench import bench, format_table

    flags = {"data.source": args.data, "split": args.split, "limit": args.limit,
             "threads": csv(args.threads, int), "engines": csv(args.engines), "torch_bf16": args.torch_bf16,
             "batch": args.batch, "budget_s": args.budget, "labels": csv(args.labels)}
    res = bench(args.artifacts, out=args.out, **options(args, flags))
    if args.json:
        emit_json(res.card["bench"])
    else:
        print(format_table(res.card["bench"]))
        console.print(f"saved {res.run_dir / 'bench.json'}", highlight=False)


PARSERS = [add_shrink, add_quantize, add_lowrank, add_export, add_bench]
