"""Detection verbs: ``anchors`` (k-means anchor shapes for SqueezeDet)."""

from __future__ import annotations

import argparse

from .common import add_common, emit_json, options, parser_kwargs


def add_anchors(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("anchors", **parser_kwargs(
        "k-means anchor shapes (distance 1 − IoU) from a detection dataset's boxes; prints and saves them",
        "edgevision anchors pennfudan --k 9 --input 416x416 --out runs/anchors"))
    p.add_argument("data", help="detection data source: pennfudan, voc:PATH, coco:PATH, yolo:PATH, synthetic:shapes")
    p.add_argument("--k", type=int, help="number of anchors (default 9)")
    p.add_argument("--input", help="H×W the boxes are measured at, e.g. 416x416 (default: the data's)")
    p.add_argument("--split", help="train (default), val or test")
    p.add_argument("--seed", type=int)
    add_common(p)
    p.set_defaults(func=cmd_anchors)


def cmd_anchors(args: argparse.Namespace) -> None:
    from ..train.anchors import anchors

    opts = options(args, {"data.source": args.data, "k": args.k, "input": args.input, "split": args.split,
                          "seed": args.seed})
    res = anchors(opts.pop("data"), out=args.out, **opts)
    if args.json:
        emit_json(__import__("json").loads(res.artifact.read_text()))
    else:
        print(f"saved {res.artifact}")


PARSERS = [add_anchors]
