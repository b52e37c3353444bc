"""People presence (Stanček 2024): distill a ≥ 4× smaller and faster person / no-person classifier.

Data: ``presence:pennfudan+coco128`` at 96×96 (whole images and crops labelled from the person boxes of
Penn-Fudan and COCO128). Images, not crops, are split, so no test image was seen in training.

1. Teacher candidates: (a) a CNN trained here on the training split with strong augmentation; (b) OpenCV's HOG
   people detector (its SVM was trained on other pictures, INRIA; Platt-calibrated on training images); (c) the
   ensemble of both, ``cnn+hog`` (mean of their probabilities, Hinton et al. 2015). The one with the best
   **validation** ROC-AUC teaches (soft targets carry the whole probability, so a threshold-free criterion); the
   test split chooses nothing.
2. Student alone: a small ``student_cnn`` trained on the labels with the same augmentation and schedule
   (150 epochs: distillation's soft targets keep helping long after the labels alone start to overfit, the
   "patient teacher" of Beyer et al. 2022).
3. Distilled: the same student, the chosen teacher online on the exact augmented batch ("consistent
   teaching"), ``(1 − α)·CE + α·T²·KL``.

Students are trained with several seeds (``--seeds``, ``--jobs`` at a time, one thread each); their rows are
the means over seeds, with every seed's test metrics beside them, and the targets are judged on the means.

Reported on the held-out test split: accuracy / precision / recall / F1 at 0.5 … 0.95, ROC-AUC, fp32 size,
batch-1 ms per image (median after warm-up, one thread, same process, same real image, interleaved) and the
distillation score ``DS = 0.5·size_s/size_t + 0.5·(1 − acc_s/acc_t)``. Writes
``benchmarks/results/people_presence.json``::

    flock /tmp/edgevision-bench.lock .venv/bin/python benchmarks/people_presence.py
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import shutil
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import torch

import edgevision as ev
from _common import require, save, ship
from edgevision.artifacts import load_artifact
from edgevision.compress.distill.score import distillation_score, evaluate_teacher, ms_per_image
from edgevision.compress.distill.teachers import Teacher, build_teacher
from edgevision.data import BatchLoader, BatchTransform, DataConfig, DataSplits, load_data
from edgevision.models import count_params
from edgevision.train.stage import make_task

ROOT = Path(__file__).resolve().parents[1]
DATA = {"source": "presence:pennfudan+coco128", "input_size": 96, "val_fraction": 0.15, "test_fraction": 0.25}
AUGMENT = {"hflip": 0.5, "crop": {"p": 0.8, "scale": [0.5, 1.0]}, "rotate": {"p": 0.3, "degrees": 10},
           "brightness": {"p": 0.5, "range": [0.7, 1.3]}, "contrast": {"p": 0.5, "range": [0.7, 1.3]}}
KEYS = ["top1", "roc_auc"] + [f"{m}_at_{t}" for t in (0.5, 0.7, 0.8, 0.9, 0.95)
                              for m in ("accuracy", "precision", "recall", "f1")]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--teacher-model", default="resnet18", help="the CNN teacher (trained here, from scratch)")
    p.add_argument("--teacher-kwargs", default='{"width_mult": 0.5}', help="JSON")
    p.add_argument("--teacher-epochs", type=int, default=40)
    p.add_argument("--student-kwargs", default='{"width": 8, "depth": 4}', help="student_cnn kwargs, JSON")
    p.add_argument("--student-epochs", type=int, default=150,
                   help="a teacher's signal needs a patient schedule (Beyer et al. 2022); 60 tied alone")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="student seeds (alone and distilled)")
    p.add_argument("--jobs", type=int, default=2, help="student runs at a time (one thread each)")
    p.add_argument("--temperature", type=float, default=4.0)
    p.add_argument("--alpha", type=float, default=0.5,
                   help="weight of the soft term; a teacher trained on the same 1.5k images is not much better than "
                        "the student, so the labels keep half the weight (0.9 follows the teacher too closely)")
    p.add_argument("--threads", type=int, default=2, help="threads of the teacher's training (latency always uses 1)")
    p.add_argument("--out", default=str(ROOT / "runs" / "bench" / "people_presence"))
    p.add_argument("--results", default=str(ROOT / "benchmarks" / "results" / "people_presence.json"))
    p.add_argument("--resume", action="store_true", help="reuse finished stages in --out")
    p.add_argument("--ship", action="store_true", help="install the first seed's distilled student as the shipped "
                   "model person-presence (src/edgevision/pretrained/)")
    return p.parse_args()


def loop(epochs: int, resume: bool, seed: int = 0) -> dict[str, Any]:
    """Options shared by every training run: same data, augmentation, optimizer and schedule."""
    return {"data": DATA, "augment": AUGMENT, "epochs": epochs, "batch_size": 32, "optimizer": "adamw", "lr": 2e-3,
            "weight_decay": 0.05, "warmup_epochs": 2, "schedule": "cosine", "seed": seed, "resume": resume}


def pick(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: metrics.get(k) for k in KEYS}


def run_metrics(run: ev.StageResult) -> dict[str, dict[str, Any]]:
    """Validation (best epoch) and test metrics of a train or distill run; test comes from its eval.json."""
    test = json.loads((run.run_dir / "eval.json").read_text())
    return {"val": pick(run.metrics.get("val", {})), "test": {**pick(test), "n": test["n"]}}


def teacher_metrics(teacher: Teacher, splits: DataSplits) -> dict[str, dict[str, Any]]:
    task = make_task("classification", splits)
    out = {}
    for name in ("val", "test"):
        loader = BatchLoader(splits.split(name), 128, shuffle=False, transform=BatchTransform(splits.mean, splits.std))
        m = evaluate_teacher(teacher, task, loader, splits.mean, splits.std)
        out[name] = {**pick(m), **({"n": m["n"]} if name == "test" else {})}
    return out


def latency(models: dict[str, tuple[Any, torch.Tensor]]) -> dict[str, float]:
    """Batch-1 ms per image, 1 thread, the same real test image; two interleaved rounds, best median kept."""
    runs: dict[str, list[float]] = {k: [] for k in models}
    for _ in range(2):  # interleave so that a busy moment on a shared machine does not hit one model only
        for k, (fn, x) in models.items():
            runs[k].append(ms_per_image(fn, x, budget_s=2.0, threads=1)["ms_per_image"])
    return {k: min(v) for k, v in runs.items()}


def student_job(kind: str, teacher: str | None, out: str, options: dict[str, Any]) -> tuple[ev.StageResult, float]:
    """One student run in a worker process, one thread: ``alone`` (labels only) or ``distilled`` (from teacher)."""
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    t0 = time.perf_counter()
    if kind == "alone":
        res = ev.train(out=out, model="student_cnn", model_kwargs=options.pop("student_kwargs"), **options)
    else:
        res = ev.distill(teacher, out=out, student="student_cnn", **options)
    return res, round(time.perf_counter() - t0, 1)


def train_students(args: argparse.Namespace, out: Path, teacher: str) -> dict[str, list[tuple[ev.StageResult, float]]]:
    """Student alone and distilled, for every seed, ``--jobs`` runs at a time (spawned processes)."""
    skw = json.loads(args.student_kwargs)
    jobs: dict[str, list[Any]] = {"alone": [], "distilled": []}
    with ProcessPoolExecutor(args.jobs, mp_context=mp.get_context("spawn")) as pool:
        for seed in args.seeds:
            base = {"student_kwargs": skw, **loop(args.student_epochs, args.resume, seed)}
            kd = {"temperature": args.temperature, "alpha": args.alpha, "mode": "online"}
            jobs["alone"].append(pool.submit(student_job, "alone", None, str(out / f"student_alone_s{seed}"), base))
            jobs["distilled"].append(pool.submit(student_job, "distilled", teacher,
                                                 str(out / f"distilled_s{seed}"), {**base, **kd}))
        return {k: [f.result() for f in v] for k, v in jobs.items()}


def main() -> None:
    args = parse_args()
    require("penn_fudan_ped")
    require("coco128")
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    if out.exists() and not args.resume:
        shutil.rmtree(out)
    splits = load_data(DataConfig.model_validate(DATA))
    t0 = time.perf_counter()
    cnn = ev.train(out=out / "teacher_cnn", model=args.teacher_model, model_kwargs=json.loads(args.teacher_kwargs),
                   **loop(args.teacher_epochs, args.resume))
    t_cnn = round(time.perf_counter() - t0, 1)
    refs = {"cnn": str(cnn.artifact), "hog": "hog", "cnn+hog": f"{cnn.artifact}+hog"}
    names = {"cnn": args.teacher_model, "hog": "hog (OpenCV default people SVM)", "cnn+hog": "ensemble cnn+hog"}
    teachers = {}
    for k, ref in refs.items():
        obj = build_teacher(ref)
        obj.prepare(splits.train, splits.class_names)
        teachers[k] = {"ref": ref, "obj": obj, "metrics": teacher_metrics(obj, splits), "name": names[k],
                       "size_bytes": obj.size_bytes()}
    best = max(teachers, key=lambda k: teachers[k]["metrics"]["val"]["roc_auc"] or 0.0)
    print(f"teacher chosen by validation ROC-AUC: {best}")
    runs = train_students(args, out, teachers[best]["ref"])
    write(args, splits, teachers, best, runs, {"teacher_cnn": t_cnn})
    if args.ship:
        ship_student(args, runs["distilled"][0][0], teachers[best])


def ship_student(args: argparse.Namespace, run: ev.StageResult, teacher: dict[str, Any]) -> None:
    """The first seed's distilled student, packed losslessly (CSR + Huffman of its float weights), as
    ``person-presence``; its card carries that seed's test metrics."""
    test = run_metrics(run)["test"]
    ship("person-presence", run.artifact, {
        "summary": "is a person in this picture? p(person) from a 96×96 image (a student_cnn distilled here)",
        "task": "classification", "metrics": {k: test[k] for k in ("f1_at_0.5", "roc_auc", "top1")},
        "teacher": {"name": teacher["name"], "ref": teacher["ref"].split("/")[-1]}, "data": DATA,
        "license": "weights: trained by edgevision's benchmark; its training images (Penn-Fudan: no open license, "
                   "research use; COCO128: per-image Flickr licenses, many non-commercial) limit them to "
                   "research and evaluation use",
        "benchmark": {"script": "benchmarks/people_presence.py", "results": Path(args.results).name,
                      "seed": args.seeds[0]}})


def mean_row(runs: list[tuple[ev.StageResult, float]], seeds: list[int]) -> dict[str, Any]:
    """Test metrics averaged over seeds, plus each seed's F1 / accuracy / AUC and the sample std of F1."""
    per = [run_metrics(r) for r, _ in runs]
    row = {k: statistics.fmean(m["test"][k] for m in per) for k in KEYS}
    row["n"] = per[0]["test"]["n"]
    row["f1_at_0.5_std"] = statistics.stdev(m["test"]["f1_at_0.5"] for m in per) if len(per) > 1 else 0.0
    row["seeds"] = [{"seed": seed, "f1_at_0.5": m["test"]["f1_at_0.5"], "top1": m["test"]["top1"],
                     "roc_auc": m["test"]["roc_auc"], "val_f1_at_0.5": m["val"]["f1_at_0.5"], "seconds": sec}
                    for seed, (_, sec), m in zip(seeds, runs, per, strict=True)]
    row["val"] = {k: statistics.fmean(m["val"][k] or 0.0 for m in per) for k in ("top1", "roc_auc", "f1_at_0.5")}
    return row


def write(args, splits, teachers, best, runs, seconds) -> None:
    x01 = splits.test.images[:1].float() / 255
    x = (x01 - torch.tensor(splits.mean).view(1, -1, 1, 1)) / torch.tensor(splits.std).view(1, -1, 1, 1)
    students = {k: load_artifact(v[0][0].artifact).model.eval() for k, v in runs.items()}  # the first seed's
    ms = latency({**{k: (t["obj"].logits, x01) for k, t in teachers.items()},
                  **{k: (m, x) for k, m in students.items()}})

    def teacher_row(k: str) -> dict[str, Any]:
        t = teachers[k]
        return {"name": t["name"], **t["metrics"]["test"], "size_bytes": t["size_bytes"], "ms_per_image": ms[k],
                "val": t["metrics"]["val"]}

    rows = {"teacher": teacher_row(best)}
    for key, label in (("alone", "student"), ("distilled", "distilled")):
        rows[label] = {"name": f"student_cnn {args.student_kwargs}", **mean_row(runs[key], args.seeds),
                       "size_bytes": count_params(students[key]) * 4, "ms_per_image": ms[key]}
    size_t, acc_t = rows["teacher"]["size_bytes"], rows["teacher"]["top1"]
    ds = distillation_score(rows["distilled"]["size_bytes"], size_t, rows["distilled"]["top1"], acc_t)
    paired = [d["f1_at_0.5"] - a["f1_at_0.5"] for a, d in zip(rows["student"]["seeds"], rows["distilled"]["seeds"],
                                                               strict=True)]
    result = {
        **rows, "distillation_score": ds,
        "distillation_score_student_alone": distillation_score(rows["student"]["size_bytes"], size_t,
                                                               rows["student"]["top1"], acc_t),
        "distillation_score_per_seed": [distillation_score(rows["distilled"]["size_bytes"], size_t, s["top1"], acc_t)
                                        for s in rows["distilled"]["seeds"]],
        "paired_f1_gain": {"per_seed": paired, "wins": sum(g > 0 for g in paired), "of": len(paired)},
        "teachers": {k: teacher_row(k) for k in teachers},
        "teacher_choice": {"by": "validation roc_auc", "chosen": best,
                           "val_roc_auc": {k: t["metrics"]["val"]["roc_auc"] for k, t in teachers.items()},
                           "val_f1_at_0.5": {k: t["metrics"]["val"]["f1_at_0.5"] for k, t in teachers.items()}},
        "ratios": {"size": size_t / rows["distilled"]["size_bytes"],
                   "speed": rows["teacher"]["ms_per_image"] / rows["distilled"]["ms_per_image"]},
        "targets": {"distilled_f1_beats_alone": rows["distilled"]["f1_at_0.5"] > rows["student"]["f1_at_0.5"],
                    "ds_below_zero": ds < 0, "student_4x_smaller_and_faster": None},
        "kd": {"temperature": args.temperature, "alpha": args.alpha, "objective": "hinton", "mode": "online"},
        "data": DATA, "augment": AUGMENT, "seeds": args.seeds,
        "epochs": {"teacher": args.teacher_epochs, "student": args.student_epochs},
        "latency": {"batch": 1, "threads": 1, "note": "median after warm-up, best of two interleaved rounds; "
                                                      "students: the first seed's model"},
        "seconds": {**seconds, **{f"{k}_s{s}": sec for k, v in runs.items()
                                  for s, (_, sec) in zip(args.seeds, v, strict=True)}},
        "train_threads": {"teacher": args.threads, "students": 1, "jobs": args.jobs},
        "resumed": args.resume,
    }
    result["targets"]["student_4x_smaller_and_faster"] = min(result["ratios"].values()) >= 4
    save("people_presence", result, args.results)
    for k in ("teacher", "student", "distilled"):
        r = rows[k]
        print(f"{k:>10}: F1@0.5 {r['f1_at_0.5']:.3f}  AUC {r['roc_auc']:.3f}  acc {r['top1']:.3f}  "
              f"{r['size_bytes']:>10,} B  {r['ms_per_image']:.3f} ms")
    print(f"DS {ds:.3f}; teacher chosen by val ROC-AUC: {best}; paired F1 gains {paired}; targets {result['targets']}")


if __name__ == "__main__":
    main()
