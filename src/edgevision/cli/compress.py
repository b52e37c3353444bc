"""The Deep Compression verbs: prune, sensitivity, cluster, pack, unpack."""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import ConfigError
from ..utils.text import size_vs
from .common import (
    add_common,
    add_finetune,
    add_run_flags,
    csv,
    emit_json,
    finetune_opts,
    options,
    parse_value,
    parser_kwargs,
)


def number_or_map(text: str | None, flag: str) -> Any:
    """``0.9`` → 0.9; ``fc1=0.97,conv*=0.8`` → {"fc1": 0.97, "conv*": 0.8} (first matching glob wins)."""
    if text is None:
        return None
    if "=" not in text:
        return parse_value(text)
    out = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{flag} {text!r}: expected a number or GLOB=VALUE[,GLOB=VALUE...]")
        out[key.strip()] = parse_value(value)
    return out


def _print_result(res, as_json: bool, extra: str = "") -> None:
    if as_json:
        emit_json(res.card)
        return
    test = (res.card.get("metrics") or {}).get("test") or {}
    head = ", ".join(f"{k} {v:.4f}" for k, v in test.items() if isinstance(v, float) and k != "loss")[:100]
    print(f"saved {res.artifact or res.run_dir}" + (f"  (test: {head})" if head else "") + extra)


def add_prune(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prune", **parser_kwargs(
        "unstructured pruning (naive / layer-wise / neuron-wise / global) with one-shot, iterative or AGP schedule",
        "edgevision prune runs/lenet/train --sparsity fc1=0.97,*=0.9 --pruning-schedule agp --epochs 20"))
    p.add_argument("artifact", help="model (.pt/.evz) or run folder")
    p.add_argument("--criterion", help="naive, layerwise (default), neuronwise or global")
    p.add_argument("--sparsity", help="fraction removed: 0.9, or per layer: fc1=0.97,conv*=0.8")
    p.add_argument("--gamma", help="apply the criterion's formula with this γ (number or per layer) instead")
    p.add_argument("--pruning-schedule", help="oneshot (default), iterative or agp")
    p.add_argument("--rounds", type=int, help="prune → retrain rounds (iterative)")
    p.add_argument("--agp-start", type=float, help="epoch where AGP starts (default 0)")
    p.add_argument("--agp-end", type=float, help="epoch where AGP reaches the target (default ⅔ of epochs)")
    p.add_argument("--agp-every", type=int, help="optimizer steps between AGP pruning events")
    p.add_argument("--layers", help="comma-separated globs of conv/linear layer names (default: all)")
    add_finetune(p, seed=True)
    add_common(p)
    p.set_defaults(func=cmd_prune)


def cmd_prune(args: argparse.Namespace) -> None:
    from ..compress.prune import prune

    flags = {"criterion": args.criterion, "sparsity": number_or_map(args.sparsity, "--sparsity"),
             "gamma": number_or_map(args.gamma, "--gamma"), "pruning_schedule": args.pruning_schedule,
             "rounds": args.rounds, "agp_start": args.agp_start, "agp_end": args.agp_end, "agp_every": args.agp_every,
             "layers": csv(args.layers),
             **finetune_opts(args)}
    res = prune(args.artifact, out=args.out, **options(args, flags))
    sp = res.card.get("sparsity") or {}
    _print_result(res, args.json, f"  sparsity {sp.get('weights', 0):.2%}" if sp else "")


def add_sensitivity(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sensitivity", **parser_kwargs(
        "prune each layer alone at keep-ratios 80 %%→1 %% per criterion; table, plot and proposed sparsities",
        "edgevision sensitivity runs/lenet/train --layers 'fc*' --tolerance 0.005 --out runs/lenet/sens"))
    p.add_argument("artifact", help="model (.pt/.evz) or run folder")
    p.add_argument("--criteria", help="comma-separated: naive,layerwise,neuronwise (default all)")
    p.add_argument("--keep", help="comma-separated fractions kept (default 0.8,0.6,…,0.01)")
    p.add_argument("--layers", help="comma-separated globs of conv/linear layer names (default: all)")
    p.add_argument("--split", help="train, val (default) or test")
    p.add_argument("--data", help="data source (default: the one the model was trained on)")
    p.add_argument("--limit", type=int, help="evaluate on at most this many samples")
    p.add_argument("--tolerance", type=float, help="tolerated drop of the primary metric (default 0.01)")
    add_common(p)
    p.set_defaults(func=cmd_sensitivity)


def cmd_sensitivity(args: argparse.Namespace) -> None:
    from ..compress.sensitivity import sensitivity

    flags = {"criteria": csv(args.criteria), "keep": csv(args.keep, float), "layers": csv(args.layers),
             "split": args.split, "data.source": args.data, "limit": args.limit, "tolerance": args.tolerance}
    res = sensitivity(args.artifact, out=args.out, **options(args, flags))
    if args.json:
        emit_json(res.card)
    else:
        print(f"table {res.run_dir / 'sensitivity.json'}, plot {res.run_dir / 'sensitivity.png'}")


def add_cluster(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cluster", **parser_kwargs(
        "k-means weight sharing per layer (pruned weights stay zero) with centroid fine-tuning",
        "edgevision cluster runs/lenet/prune --bits conv=8,linear=5 --epochs 3 --out runs/lenet/cluster"))
    p.add_argument("artifact", help="model (.pt/.evz) or run folder")
    p.add_argument("--bits", help="index bits, k = 2^bits: 5, or per layer: conv=8,linear=5,fc3=6")
    p.add_argument("--init", help="linear (default), density or random")
    p.add_argument("--per-channel", action="store_true", default=None, help="one codebook per output channel")
    p.add_argument("--bias-bits", type=int, help="also share each selected layer's bias with this many bits")
    p.add_argument("--codebook-dtype", help="fp32 (default) or fp16")
    p.add_argument("--layers", help="comma-separated globs of conv/linear layer names (default: all)")
    add_finetune(p, seed=True)
    add_common(p)
    p.set_defaults(func=cmd_cluster)


def cmd_cluster(args: argparse.Namespace) -> None:
    from ..compress.cluster import cluster

    flags = {"bits": number_or_map(args.bits, "--bits"), "init": args.init, "per_channel": args.per_channel,
             "bias_bits": args.bias_bits, "codebook_dtype": args.codebook_dtype, "layers": csv(args.layers),
             **finetune_opts(args)}
    res = cluster(args.artifact, out=args.out, **options(args, flags))
    _print_result(res, args.json)


def add_pack(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pack", **parser_kwargs(
        "write an .evz: CSR with relative gaps + shared-weight codebooks + Huffman; prints the compression rate",
        "edgevision pack runs/lenet/cluster --out runs/lenet/pack"))
    p.add_argument("artifact", help="model (.pt) or run folder")
    p.add_argument("--gap-bits", help="relative-index gap width 1–16, or auto (default)")
    p.add_argument("--no-huffman", dest="huffman", action="store_false", default=None, help="fixed-width streams")
    p.add_argument("--max-codebook", type=int, help="tensors with at most this many distinct values get a codebook")
    p.add_argument("--per-channel", help="codebook per output channel: auto (default), true or false")
    p.add_argument("--sparse", help="auto (default), always or never")
    p.add_argument("--float-dtype", help="unshared floats: fp32 (default, exact) or fp16 (lossy)")
    p.add_argument("--no-verify", dest="verify", action="store_false", default=None, help="skip the decode check")
    add_run_flags(p, "reuse a finished run in --out")
    add_common(p)
    p.set_defaults(func=cmd_pack)


def cmd_pack(args: argparse.Namespace) -> None:
    from ..compress.pack import pack

    flags = {"gap_bits": parse_value(args.gap_bits) if args.gap_bits else None, "huffman": args.huffman,
             "max_codebook": args.max_codebook, "per_channel": parse_value(args.per_channel) if args.per_channel
             else None, "sparse": args.sparse, "float_dtype": args.float_dtype, "verify": args.verify,
             "resume": args.resume, "overwrite": args.overwrite}
    res = pack(args.artifact, out=args.out, **options(args, flags))
    if args.json:
        emit_json(res.card)
    else:
        tot = res.card["compression"]
        print(f"saved {res.artifact}: {tot['evz_bytes']:,} bytes, {size_vs(tot['evz_bytes'], tot['dense_bytes'])} "
              f"dense fp32 ({tot['dense_bytes']:,} bytes); table in {res.run_dir / 'compression.json'}")


def add_unpack(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("unpack", **parser_kwargs("decode an .evz back into a model.pt",
                                                 "edgevision unpack runs/lenet/pack --out runs/lenet/unpacked"))
    p.add_argument("artifact", help=".evz file or pack run folder")
    add_common(p)
    p.set_defaults(func=cmd_unpack)


def cmd_unpack(args: argparse.Namespace) -> None:
    from ..compress.pack import unpack

    res = unpack(args.artifact, out=args.out, **options(args, {}))
    if args.json:
        emit_json(res.card)
    else:
        print(f"saved {res.artifact}")


PARSERS = [add_prune, add_sensitivity, add_cluster, add_pack, add_unpack]
