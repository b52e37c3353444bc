"""App verbs: ``demo`` (live view of an artifact on a camera, video, stream or image folder)."""

from __future__ import annotations

import argparse

from .common import emit_json, options, parser_kwargs


def add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", **parser_kwargs(
        "live demo of any artifact (.pt/.evz/.onnx, every task) on a camera, video file, stream or image folder: "
        "overlays, fps and per-stage times; --headless writes an annotated video and per-frame JSON lines",
        "edgevision demo runs/quickstart/pack --source clip.mp4 --headless --out annotated.mp4 "
        "--jsonl results.jsonl"))
    p.add_argument("artifact", help="model file (.pt/.evz/.onnx) or run folder")
    p.add_argument("--source", required=True, help="camera index (0), video file, folder of images, rtsp://...")
    p.add_argument("--engine", choices=("auto", "torch", "onnxruntime", "cv2"),
                   help="inference engine (default auto: torch for .pt/.evz, onnxruntime for .onnx)")
    p.add_argument("--threads", type=int, help="inference threads (default 1)")
    p.add_argument("--headless", action="store_true", default=None, help="no window: write files (servers, tests)")
    p.add_argument("--out", help="annotated video (.mp4/.avi/.mkv) or output folder (folder sources: images + CSV)")
    p.add_argument("--jsonl", help="one JSON line per frame: predictions and timings")
    p.add_argument("--realtime", action="store_true", default=None,
                   help="treat a video file like a camera (keep only the newest frame)")
    p.add_argument("--max-frames", type=int, help="stop after N frames")
    p.add_argument("--gallery", help="face models: the SQLite gallery written by `edgevision faces enroll`")
    p.add_argument("--no-hud", dest="hud", action="store_false", default=None, help="do not draw fps and timings")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--config", metavar="YAML", help="read options from a YAML mapping (flags override it)")
    p.add_argument("--set", metavar="KEY=VALUE", action="append", default=[], help="set any option")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> None:
    from ..apps.demo import demo

    opts = options(args, {"engine": args.engine, "threads": args.threads, "headless": args.headless,
                          "jsonl": args.jsonl, "realtime": args.realtime, "max_frames": args.max_frames,
                          "hud": args.hud, "gallery": args.gallery})
    res = demo(args.artifact, args.source, out=args.out, **opts)
    if args.json:
        emit_json(res.card["metrics"])


PARSERS = [add_demo]
