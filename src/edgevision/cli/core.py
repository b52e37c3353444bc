"""The foundation verbs: models, profile, train, eval, predict, run, quickstart, report."""

from __future__ import annotations

import argparse
import os

from ..utils.progress import console
from .common import (
    add_common,
    add_run_flags,
    add_threads,
    emit_json,
    input_size,
    kv_list,
    options,
    parser_kwargs,
)


def add_models(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", **parser_kwargs("list the registered architectures with params and MACs",
                                                 "edgevision models --json"))
    p.add_argument("--json", action="store_true", help="print machine-readable JSON to stdout")
    p.set_defaults(func=cmd_models)


def cmd_models(args: argparse.Namespace) -> None:
    from ..bench.profile import list_models

    rows = list_models()
    if args.json:
        emit_json(rows)
        return
    print(f"{'model':<16}{'params':>14}{'MACs':>16}  {'input':<11}description")
    for r in rows:
        print(f"{r['name']:<16}{r['params']:>14,}{r['macs']:>16,}  {r['input']:<11}{r['description']}")


def add_profile(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("profile", **parser_kwargs(
        "params, MACs, latency p50/p90 (torch and onnxruntime), throughput and memory of a model",
        "edgevision profile squeezenet1_1 --input 3x224x224 --threads 1"))
    p.add_argument("target", help="registered model name or artifact (.pt/.evz/.onnx) or run folder")
    p.add_argument("--input", help="C×H×W, e.g. 3x224x224")
    p.add_argument("--threads", type=int)
    p.add_argument("--batch", type=int, help="batch size for throughput (default 8)")
    p.add_argument("--engines", help="comma-separated: torch,onnxruntime")
    add_common(p)
    p.set_defaults(func=cmd_profile)


def cmd_profile(args: argparse.Namespace) -> None:
    from ..bench.profile import format_profile, profile

    engines = args.engines.split(",") if args.engines else None
    opts = options(args, {"input": args.input, "threads": args.threads, "batch": args.batch, "engines": engines})
    res = profile(args.target, out=args.out, **opts)
    if args.json:
        emit_json(res.card["profile"])
    else:
        print(format_profile(res.card["profile"]))
        console.print(f"saved {res.run_dir / 'profile.json'}", highlight=False)


def add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", **parser_kwargs(
        "train a model for a task: classification, detection (SqueezeDet), localization (one box), segmentation",
        "edgevision train --model student_cnn --data synthetic:shapes --input-size 32 --epochs 5 --out runs/t"))
    p.add_argument("--model", help="registered model name (see `edgevision models`)")
    p.add_argument("--model-kwargs", nargs="*", metavar="KEY=VALUE", help="e.g. width=16 depth=3")
    p.add_argument("--task", help="classification, localization, detection, segmentation (default: the model's)")
    p.add_argument("--task-options", nargs="*", metavar="KEY=VALUE", help="e.g. anchors=9 lambda_conf_neg=100")
    p.add_argument("--data", help="source: synthetic:shapes, mnist, or a folder")
    p.add_argument("--input-size", help="H or HxW fed to the model")
    p.add_argument("--channels", type=int, choices=(1, 3))
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--optimizer", help="sgd, adam or adamw")
    p.add_argument("--schedule", help="none, step, cosine or plateau")
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--workers", type=int, help="loader processes for file-backed datasets")
    p.add_argument("--init", help="artifact whose matching weights initialize the model")
    p.add_argument("--bf16", action="store_true", default=None, help="bf16 autocast")
    add_threads(p)
    add_run_flags(p)
    add_common(p)
    p.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> None:
    from ..train.stage import train

    flags = {"model": args.model, "model_kwargs": kv_list(args.model_kwargs, "--model-kwargs"), "task": args.task,
             "task_options": kv_list(args.task_options, "--task-options"),
             "data.source": args.data, "data.input_size": input_size(args.input_size),
             "data.channels": args.channels, "data.num_workers": args.workers, "epochs": args.epochs,
             "batch_size": args.batch_size, "lr": args.lr, "optimizer": args.optimizer, "schedule": args.schedule,
             "weight_decay": args.weight_decay, "seed": args.seed, "init": args.init, "bf16": args.bf16,
             "resume": args.resume, "overwrite": args.overwrite, "threads": args.threads}
    res = train(out=args.out, **options(args, flags))
    _report_result(res, args.json)


def _report_result(res, as_json: bool) -> None:
    if os.environ.get("RANK", "0") != "0":  # DDP: only rank 0 reports
        return
    if as_json:
        emit_json(res.card)
        return
    test = (res.card.get("metrics") or {}).get("test") or {}
    head = ", ".join(f"{k} {v:.4f}" for k, v in test.items() if isinstance(v, float) and k != "loss")[:120]
    print(f"saved {res.artifact or res.run_dir}" + (f"  (test: {head})" if head else ""))


def add_eval(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", **parser_kwargs("evaluate an artifact on a split of its dataset (or another)",
                                               "edgevision eval runs/quickstart/train --split test"))
    p.add_argument("artifact", help="model file (.pt/.evz/.onnx) or run folder")
    p.add_argument("--data", help="data source (default: the one the model was trained on)")
    p.add_argument("--split", help="train, val or test (default test)")
    p.add_argument("--batch-size", type=int)
    add_threads(p)
    add_common(p)
    p.set_defaults(func=cmd_eval)


def cmd_eval(args: argparse.Namespace) -> None:
    from ..train.evaluate import evaluate

    res = evaluate(args.artifact, out=args.out, **options(args, {"data.source": args.data, "split": args.split,
                                                                  "batch_size": args.batch_size,
                                                                  "threads": args.threads}))
    if args.json:
        emit_json(res.card)


def add_predict(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", **parser_kwargs("run an artifact on images; writes predictions.jsonl and drawings",
                                                  "edgevision predict runs/quickstart/train photos/ --out runs/pred"))
    p.add_argument("artifact")
    p.add_argument("inputs", nargs="+", help="image files or folders")
    p.add_argument("--no-draw", dest="draw", action="store_false", default=None, help="skip annotated images")
    add_threads(p)
    add_common(p)
    p.set_defaults(func=cmd_predict)


def cmd_predict(args: argparse.Namespace) -> None:
    from ..apps.predict import predict

    res = predict(args.artifact, args.inputs, out=args.out, **options(args, {"draw": args.draw,
                                                                             "threads": args.threads}))
    if args.json:
        emit_json([__import__("json").loads(line) for line in (res.run_dir / "predictions.jsonl").read_text()
                   .splitlines()])
    else:
        print(f"predictions in {res.run_dir / 'predictions.jsonl'}")


def add_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", **parser_kwargs("run a recipe: a YAML list of stages (resumes finished stages)",
                                              "edgevision run recipes/quickstart.yaml --out runs/qs"))
    p.add_argument("recipe")
    p.add_argument("--out", help="output folder (default: the recipe's `out`, or runs/<name>)")
    p.add_argument("--force", action="store_true",
                   help="re-run stages that are already complete (their old folders are moved to <name>.old-<time>)")
    p.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> None:
    from ..recipe import recipe_root, run
    from ..report.terminal import print_summary

    run(args.recipe, out=args.out, force=args.force)
    print_summary(recipe_root(args.recipe, args.out))  # the table of what came out, then the next commands


def add_quickstart(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("quickstart", **parser_kwargs(
        "the embedded recipe on synthetic shapes: train → distill → prune → cluster → pack → export → bench → report",
        "edgevision quickstart --out runs/qs"))
    p.add_argument("--out", default="runs/quickstart")
    p.set_defaults(func=cmd_quickstart)


def cmd_quickstart(args: argparse.Namespace) -> None:
    from ..recipe import quickstart
    from ..report.terminal import print_summary

    quickstart(args.out)
    print_summary(args.out)


def add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", **parser_kwargs("write one self-contained HTML report of run folders",
                                                 "edgevision report runs/quickstart --out report.html"))
    p.add_argument("runs", nargs="+", help="run folders (a recipe folder or single stage folders)")
    p.add_argument("--out", help="HTML file (default: <first run>/report.html)")
    p.add_argument("--title")
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> None:
    from ..report.html import report

    res = report(args.runs, out=args.out, **({"title": args.title} if args.title else {}))
    print(f"report: {res.artifact}")


PARSERS = [add_models, add_profile, add_train, add_eval, add_predict, add_run, add_quickstart, add_report]
