"""``edgevision distill``: train a small student from a teacher (argument parsing only)."""

from __future__ import annotations

import argparse

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


def add_distill(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("distill", **parser_kwargs(
        "knowledge distillation: train a student from a teacher artifact or an OpenCV people detector",
        "edgevision distill --teacher runs/quickstart/train --student student_cnn --student-kwargs width=8 "
        "--temperature 4 --alpha 0.9 --epochs 5 --out runs/d\n"
        "  edgevision distill --teacher hog --data presence:pennfudan+coco128 --input-size 96 --epochs 20\n"
        "  edgevision distill --teacher runs/presence/resnet+hog --student student_cnn   (ensemble teacher)\n"
        "  edgevision distill --teacher runs/seg/enet --student fastlinknet --alpha 0.5 --epochs 30   (per pixel)\n"
        "  edgevision distill --teacher runs/det/squeezedet --student squeezedet_small --epochs 50   (per anchor)\n"
        "  edgevision distill --teacher runs/t --hint features.3:stages.1 --hint features.6:stages.2:at"))
    p.add_argument("--teacher", required=True, help="artifact / run folder, or hog, haar-fullbody, haar-upperbody; "
                   "join several with + for an ensemble (runs/t+hog)")
    p.add_argument("--student", help="registered student model (default student_cnn)")
    p.add_argument("--student-kwargs", nargs="*", metavar="KEY=VALUE", help="e.g. width=8 depth=3")
    p.add_argument("--task-options", nargs="*", metavar="KEY=VALUE",
                   help="base-task options over the teacher's, e.g. loss=ce+dice, distill_box=2 (detection)")
    p.add_argument("--data", help="data source (default: the teacher artifact's)")
    p.add_argument("--input-size", help="H or HxW fed to the student")
    p.add_argument("--channels", type=int, choices=(1, 3))
    p.add_argument("--temperature", type=float, help="T of the soft targets (default 4)")
    p.add_argument("--alpha", type=float, help="soft-term weight α (default 0.9)")
    p.add_argument("--beta", type=float, help="BCE weight β of the kl+bce objective (default 1)")
    p.add_argument("--objective", choices=("hinton", "kl+bce", "mse"), help="distillation loss (default hinton)")
    p.add_argument("--zero-mean", action="store_true", default=None, help="zero-mean logits (doc 000)")
    p.add_argument("--soft-epochs", type=int, help="soft targets only for N epochs, then hard labels only")
    p.add_argument("--mode", choices=("online", "offline"), help="online teacher per batch, or cached logits")
    p.add_argument("--hint", action="append", metavar="S:T[:fitnet|at[:W]]",
                   help="feature hint from student layer S to teacher layer T (repeatable)")
    p.add_argument("--cache-dir", help="offline teacher-logit cache folder")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--optimizer", help="sgd, adam or adamw")
    p.add_argument("--seed", type=int)
    p.add_argument("--workers", type=int, help="loader processes for file-backed datasets")
    p.add_argument("--bf16", action="store_true", default=None, help="bf16 autocast")
    add_threads(p)
    add_run_flags(p)
    add_common(p)
    p.set_defaults(func=cmd_distill)


def cmd_distill(args: argparse.Namespace) -> None:
    from ..compress.distill import distill

    flags = {"teacher": args.teacher, "student": args.student,
             "student_kwargs": kv_list(args.student_kwargs, "--student-kwargs"),
             "task_options": kv_list(args.task_options, "--task-options"), "data.source": args.data,
             "data.input_size": input_size(args.input_size), "data.channels": args.channels,
             "data.num_workers": args.workers, "temperature": args.temperature, "alpha": args.alpha,
             "beta": args.beta, "objective": args.objective, "zero_mean": args.zero_mean,
             "soft_epochs": args.soft_epochs, "mode": args.mode, "hints": args.hint, "cache_dir": args.cache_dir,
             "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "optimizer": args.optimizer,
             "seed": args.seed, "bf16": args.bf16, "resume": args.resume, "overwrite": args.overwrite,
             "threads": args.threads}
    res = distill(out=args.out, **options(args, flags))
    if args.json:
        emit_json(res.card)
        return
    rep = res.card.get("teacher") or {}
    dist = res.card.get("distillation") or {}
    key = dist.get("metric") or "top1"  # the base task's headline metric: top1, miou, ap50, ...
    t_acc = (rep.get("test") or {}).get(key)
    s_acc = ((res.card.get("metrics") or {}).get("test") or {}).get(key)
    ds = dist.get("score")
    line = f"saved {res.artifact}"
    if s_acc is not None and t_acc is not None and ds is not None:
        name = "top-1" if key == "top1" else key
        line += f"  (test {name}: student {s_acc:.4f}, teacher {t_acc:.4f}; distillation score {ds:.3f})"
    print(line)


PARSERS = [add_distill]
