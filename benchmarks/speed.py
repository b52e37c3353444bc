"""Speed benchmark: does compression make models faster on this CPU, and at what accuracy?

One command (run it under the shared lock so timings are not disturbed by other benchmarks)::

    flock /tmp/edgevision-bench.lock .venv/bin/python benchmarks/speed.py

What it does, all through the public API (``edgevision.train / shrink / lowrank / quantize / export / bench``):

1. Classifiers trained on real data at their natural input size: on MNIST at 28×28 (54k train / 6k val /
   official 10k test) LeNet-5 (Caffe), a VGG-style ``student_cnn`` (32-64-128, BatchNorm) and MobileNetV1-0.5;
   on the people-presence set (Penn-Fudan + COCO128, 96×96, images split so no test image is trained on) a
   ResNet-18 ×0.5. Each is (a) structurally pruned to remove 50 % of its MACs (``round_to="auto"``, i.e. 16 on
   AVX-512; Taylor importance) and fine-tuned, (b) factorized (SVD of the linear layers for LeNet-5, k×1 + 1×k
   and depthwise-separable convs for ``mnist_cnn``) and fine-tuned, (c) exported with fp16 weight storage,
   (d) quantized to int8 in onnxruntime (calibration methods compared, the float stem when measured faster,
   sensitivity exclusion and QAT when over 1 point), (e) pruned and quantized.
2. SqueezeNet-1.1 and MobileNetV1-0.5 at 224² with 1000 classes for latency (untrained: no ImageNet here, so
   their int8 files are only checked for agreement with fp32 on real COCO128 photos, which also calibrate them;
   int8 *accuracy* comes from the trained models of step 1).
3. int8 engines compared on the same models: onnxruntime QDQ vs torch's own x86 int8 (FX graph mode,
   fbgemm/oneDNN kernels); torch PT2E is measured when ``torchao`` is installed.
4. One bench table over every artifact: torch eager, onnxruntime and cv2.dnn, 1 and 2 threads, with the
   GEMM peak measured in the same run.

Writes ``benchmarks/results/speed.json``. Headline keys: ``int8_speedup_1t`` (SqueezeNet-1.1 224², onnxruntime,
1 thread, batch 1), ``int8_accuracy_drop`` (points, the MNIST student_cnn), ``int8_trained_presence``
(speed-up and accuracy drop of the trained presence ResNet-18 ×0.5), ``structured_latency_ratio`` (dense/pruned
batch-1 latency of the MNIST student_cnn in onnxruntime, 1 thread), ``structured_accuracy_drop`` (points, same
model, after fine-tuning), ``peak_gmacs_1t`` and ``rows`` (the bench table).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
import warnings
import zipfile
from pathlib import Path

import cv2
import numpy as np
import torch

import edgevision as ev
from _common import save
from edgevision.bench.bench import BenchConfig, bench_artifacts, format_table
from edgevision.compress.structured.shrink import shrink_model
from edgevision.data.paths import find_dataset
from edgevision.deploy.export import cv2_compatible, onnx_metadata
from edgevision.deploy.int8 import graph as q
from edgevision.deploy.int8.stem import choose_stem, stem_nodes
from edgevision.deploy.onnx import export_onnx, ort_session, write_metadata
from edgevision.models import build_model
from edgevision.utils.timing import measure

ROOT = Path(__file__).resolve().parents[1]
MNIST = {"source": "mnist"}
PRESENCE = {"source": "presence:pennfudan+coco128", "input_size": 96, "val_fraction": 0.15, "test_fraction": 0.25}
PRESENCE_AUGMENT = {"hflip": 0.5, "crop": {"p": 0.8, "scale": [0.5, 1.0]},
                    "brightness": {"p": 0.5, "range": [0.7, 1.3]}, "contrast": {"p": 0.5, "range": [0.7, 1.3]}}
# name → (registry name, kwargs, train lr, data, augment, epochs multiplier, low-rank methods)
CLASSIFIERS = {
    "lenet5": ("lenet5", {}, 2e-3, MNIST, None, 1, ("svd",)),
    "mnist_cnn": ("student_cnn", {"width": 32, "depth": 3, "convs_per_stage": 2}, 2e-3, MNIST, None, 1,
                  ("dwsep", "separable")),
    "mobilenet_v1_0.5": ("mobilenet_v1", {"width_mult": 0.5}, 2e-3, MNIST, None, 1, ()),
    # (SqueezeNet-1.1 with PyTorch's default init stayed at loss ln 2 on this set; see models/squeezenet.py)
    "presence_resnet18": ("resnet18", {"width_mult": 0.5}, 2e-3, PRESENCE, PRESENCE_AUGMENT, 6, ()),
}
LOWRANK = {"svd": {"rank_ratio": 0.25}, "separable": {"rank_ratio": 0.25}, "dwsep": {}}  # rank: a quarter of full
LATENCY_MODELS = {"squeezenet1_1": ("squeezenet1_1", {}), "mobilenet_v1_0.5@224": ("mobilenet_v1", {"width_mult": 0.5})}
IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])


def say(msg: str) -> None:
    print(f"[speed {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------------------------------------- MNIST
def classifier(key: str, args: argparse.Namespace, work: Path) -> dict | None:
    """Train one classifier on real data, then shrink + fine-tune, low-rank + fine-tune, fp16, int8, shrink + int8."""
    name, kwargs, lr, data, augment, scale, lowrank_methods = CLASSIFIERS[key]
    data = {**data, **({"limit": args.limit} if args.limit else {})}
    base = work / key
    loop = {"optimizer": "adamw", "weight_decay": 1e-4, "resume": True, "augment": augment or {},
            "batch_size": 128 if augment is None else 32}
    say(f"{key}: train {args.epochs * scale} epochs")
    train = ev.train(model=name, model_kwargs=kwargs, data=data, epochs=args.epochs * scale, lr=lr,
                     schedule="cosine", out=base / "train", **loop)
    say(f"{key}: shrink 50 % of MACs, fine-tune {args.ft_epochs * scale} epochs")
    shrink = ev.shrink(train.artifact, macs=0.5, round_to="auto", importance="taylor", epochs=args.ft_epochs * scale,
                       lr=lr / 2, out=base / "shrink", **loop)
    lowrank = {m: ev.lowrank(train.artifact, method=m, **LOWRANK[m], epochs=args.ft_epochs * scale, lr=lr / 2,
                             out=base / f"lowrank-{m}", **loop) for m in lowrank_methods}
    if args.train_only:
        return None
    say(f"{key}: fp16 weight storage (ONNX export with parity check)")
    fp16 = base / "export" / "model.fp16.onnx"
    if not fp16.is_file():
        fp16 = ev.export(train.artifact, format="onnx", fp16=True, out=base / "export").artifact
    say(f"{key}: int8 (calibration best, tolerance 1 point, QAT if needed)")
    quant = ev.quantize(train.artifact, calibration="best", tolerance=1.0, qat="auto", epochs=1, threads=1,
                        budget_s=args.budget, out=base / "int8", resume=True)
    quant_p = ev.quantize(shrink.artifact, calibration="best", tolerance=1.0, qat="auto", epochs=1, threads=1,
                          budget_s=args.budget, out=base / "pruned-int8", resume=True)
    qrep = json.loads((quant.run_dir / "quantize.json").read_text())
    return {"train": _test(train), "shrink": {**_test(shrink), **shrink.card["shrink"],
                                              "drop_points": shrink.card["metrics"].get("drop_points")},
            "int8": {"drop_points": qrep["drop_points"], "speedup_1t": qrep["speedup"], "verdict": qrep["verdict"],
                     "calibration": qrep["calibration"], "excluded": qrep["excluded"], "qat": qrep["qat"] is not None,
                     "method": qrep["method"]},
            "pruned_int8": {"drop_points_vs_pruned": quant_p.card["metrics"]["drop_points"],
                            "verdict": quant_p.card["verdict"]},
            "lowrank": {m: {**_test(r), "drop_points": r.card["metrics"].get("drop_points"), **r.card["lowrank"]}
                        for m, r in lowrank.items()},
            "artifacts": {"fp32": str(train.artifact), "int8": str(quant.artifact), "fp16": str(fp16),
                          "pruned": str(shrink.artifact), "pruned_int8": str(quant_p.artifact),
                          **{f"lowrank_{m}": str(r.artifact) for m, r in lowrank.items()}}}


def _test(res) -> dict:
    t = (res.card.get("metrics") or {}).get("test") or {}
    return {"top1": t.get("top1"), "params": res.card.get("params"), "macs": res.card.get("macs"),
            "file_bytes": res.card.get("file_bytes")}


# ---------------------------------------------------------------------------------------------- 224² models
def coco_images(n: int = 128, size: int = 224) -> np.ndarray:
    """COCO128 photos, resized to size² and ImageNet-normalized (N, 3, size, size) float32."""
    root = find_dataset("coco128")
    if root is None:
        raise SystemExit("COCO128 not found (../shared/datasets/coco128 or $EDGEVISION_DATA)")
    zf = zipfile.ZipFile(root / "coco128.zip")
    names = sorted(n for n in zf.namelist() if n.lower().endswith(".jpg"))[:n]
    mean, std = (np.array(v, np.float32).reshape(3, 1, 1) for v in IMAGENET)
    out = []
    for name in names:
        img = cv2.imdecode(np.frombuffer(zf.read(name), np.uint8), cv2.IMREAD_COLOR)
        img = cv2.resize(cv2.cvtColor(img, cv2.COLOR_BGR2RGB), (size, size), interpolation=cv2.INTER_AREA)
        out.append((img.transpose(2, 0, 1).astype(np.float32) / 255 - mean) / std)
    return np.stack(out)


def latency_model(key: str, images: np.ndarray, work: Path) -> dict:
    """Save dense and 50 %-MACs-pruned copies, export fp32 + int8 ONNX (calibrated on COCO photos)."""
    name, kwargs = LATENCY_MODELS[key]
    base = work / key
    base.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = build_model(name, num_classes=1000, **kwargs).eval()
    pruned, info = shrink_model(model, (3, 224, 224), macs=0.5, round_to="auto", importance="l1")
    task = {"name": "classification", "class_names": [f"class_{i}" for i in range(1000)], "label_smoothing": 0.0}
    pre = {"input_size": [224, 224], "channels": 3, "mean": IMAGENET[0], "std": IMAGENET[1], "resize": "stretch",
           "color": "RGB", "scale": 1 / 255}
    calib, hold = images[:96], images[96:]
    out = {"pruned_macs_reduction": info.to_dict()["macs_reduction"], "artifacts": {}}
    for tag, m in (("dense", model), ("pruned", pruned)):
        pt = ev.save_model(base / f"{tag}.pt", m, task=task, preprocess=pre, meta={"stage": "benchmark"})
        art = ev.load_artifact(pt)
        fp32 = _onnx(art, m, base / f"{tag}.onnx")
        prepared = q.prepare_for_int8(fp32, base / f"{tag}.prepared.onnx")

        def quant(dst: Path, exclude: list[str], prepared: Path = prepared, tag: str = tag) -> Path:
            return q.quantize_int8(prepared, dst, calib, method="minmax", exclude_nodes=exclude,
                                   cache=base / f"{tag}.ranges.json")

        stem, out[f"{tag}_stem"] = choose_stem(prepared, quant, [], "auto", (3, 224, 224))
        int8 = quant(base / f"{tag}.int8.onnx", stem)
        write_metadata(int8, onnx_metadata(art, m, "int8", calibration="minmax", calib_samples=len(calib),
                                           excluded=stem))
        ref, got = q.run_onnx(fp32, hold), q.run_onnx(int8, hold)
        out[f"{tag}_int8_agreement"] = q.agreement(got, ref)
        # untrained logits can be near-constant, making agreement easy: also report how many classes fp32
        # predicts on these photos and the relative error of the logits around their mean
        out[f"{tag}_fp32_distinct_top1"] = len(np.unique(ref.argmax(1)))
        centred = ref - ref.mean(0, keepdims=True)
        out[f"{tag}_int8_rel_err"] = float(np.linalg.norm(got - ref) / max(np.linalg.norm(centred), 1e-12))
        out["artifacts"].update({tag: str(pt), f"{tag}_int8": str(int8)})
    return out


def _onnx(art, model, path: Path) -> Path:
    export_onnx(model, path, art.input_shape)
    cv2_compatible(path)
    return write_metadata(path, onnx_metadata(art, model, "fp32"))


# ---------------------------------------------------------------------------------------------- int8 engines
def interleaved(fns: dict, rounds: int, budget: float) -> dict[str, float]:
    times = {k: [] for k in fns}
    for _ in range(rounds):
        for k, f in fns.items():
            times[k] += measure(f, budget_s=budget / rounds, min_runs=5, times=True)["times_ms"]
    return {k: round(float(np.median(v)), 4) for k, v in times.items()}


def torch_fx_int8(model: torch.nn.Module, calib: np.ndarray) -> torch.nn.Module:
    """torch's own x86 int8 path: FX graph mode PTQ (fbgemm/oneDNN quantized kernels)."""
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    torch.backends.quantized.engine = "x86"
    x = torch.from_numpy(calib[:1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepared = prepare_fx(copy.deepcopy(model).eval(), get_default_qconfig_mapping("x86"), (x,))
        with torch.no_grad():
            for i in range(0, len(calib), 16):
                prepared(torch.from_numpy(calib[i:i + 16]))
        return convert_fx(prepared)


def torch_pt2e_int8(model: torch.nn.Module, calib: np.ndarray):
    """PT2E (torchao's X86InductorQuantizer + torch.compile), when torchao is installed; else (None, reason)."""
    try:
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
        from torchao.quantization.pt2e.quantizer.x86_inductor_quantizer import (
            X86InductorQuantizer,
            get_default_x86_inductor_quantization_config,
        )
    except ImportError:
        return None, "torchao is not installed (torch 2.13 moved PT2E quantization to torchao)"
    x = torch.from_numpy(calib[:1])
    exported = torch.export.export(copy.deepcopy(model).eval(), (x,)).module()
    quantizer = X86InductorQuantizer().set_global(get_default_x86_inductor_quantization_config())
    prepared = prepare_pt2e(exported, quantizer)
    with torch.no_grad():
        for i in range(len(calib)):  # the exported graph is specialised to batch 1
            prepared(torch.from_numpy(calib[i:i + 1]))
    return torch.compile(convert_pt2e(prepared)), None


def engine_latency(model: torch.nn.Module, fp32_onnx: Path, int8_onnx: Path, calib: np.ndarray,
                   args: argparse.Namespace) -> dict:
    """Batch-1, 1-thread latency of fp32 and int8 in onnxruntime and in torch for one model (interleaved)."""
    x = calib[:1]
    xt = torch.from_numpy(x)
    s32, s8 = ort_session(fp32_onnx, 1), ort_session(int8_onnx, 1)
    fx = torch_fx_int8(model, calib)
    fns = {"onnxruntime fp32": lambda: s32.run(None, {"input": x}),
           "onnxruntime int8 (QDQ)": lambda: s8.run(None, {"input": x}),
           "torch fp32": lambda: model(xt), "torch int8 (FX, x86)": lambda: fx(xt)}
    pt2e, why = torch_pt2e_int8(model, calib)
    if pt2e is not None:
        with torch.no_grad():
            pt2e(xt)  # compile outside the timing
        fns["torch int8 (PT2E + inductor)"] = lambda: pt2e(xt)
    with torch.inference_mode():
        lat = interleaved(fns, args.rounds, args.budget * len(fns))
    return {"p50_ms": lat, "pt2e": why or "measured"}


def int8_engines(cases: dict[str, tuple], args: argparse.Namespace) -> dict:
    torch.set_num_threads(1)
    out = {}
    for key, (model, fp32_onnx, int8_onnx, calib) in cases.items():
        say(f"int8 engines: {key}")
        out[key] = engine_latency(model, fp32_onnx, int8_onnx, calib, args)
    return out


# ---------------------------------------------------------------------------------------------- ablations
def round_to_ablation(art_path: str, work: Path, args: argparse.Namespace) -> dict:
    """Batch-1 onnxruntime latency of the same model pruned to half its MACs with round_to 1, 8, 16 (1 thread)."""
    art = ev.load_artifact(art_path)
    paths = {"dense": export_onnx(art.model, work / "rt-dense.onnx", art.input_shape)}
    widths = {}
    for rt in (1, 8, 16):
        m, info = shrink_model(art.model, art.input_shape, macs=0.5, round_to=rt)
        paths[f"round_to={rt}"] = export_onnx(m, work / f"rt-{rt}.onnx", art.input_shape)
        widths[f"round_to={rt}"] = {"widths": [g["after"] for g in info.groups],
                                    "macs_reduction": info.to_dict()["macs_reduction"]}
    x = np.random.default_rng(0).standard_normal((1, *art.input_shape), np.float32)
    sessions = {k: ort_session(p, 1) for k, p in paths.items()}
    lat = interleaved({k: (lambda s=s: s.run(None, {"input": x})) for k, s in sessions.items()}, args.rounds,
                      args.budget * len(sessions))
    return {k: {"p50_ms": v, "speedup": round(lat["dense"] / v, 3), **widths.get(k, {})} for k, v in lat.items()}


def activation_ablation(arts: dict, calib: np.ndarray, work: Path, args: argparse.Namespace) -> dict:
    """SqueezeNet-1.1 int8, onnxruntime, 1 thread: uint8 (U8S8) vs int8 (S8S8) activations, all layers in int8
    vs the stem kept in float (:mod:`edgevision.deploy.int8.stem`), and without the shared concat scales
    (:mod:`edgevision.deploy.int8.concat`)."""
    fp32 = Path(arts["dense"]).with_suffix(".onnx")
    prepared = q.prepare_for_int8(fp32, work / "act.prepared.onnx")
    stem = stem_nodes(prepared)
    files = {"fp32": fp32, "uint8 activations, every layer int8, concat scales not shared": q.quantize_int8(
        prepared, work / "act-uint8-noshare.onnx", calib, share_concat=False)}
    for act in ("uint8", "int8"):
        files[f"{act} activations, every layer int8"] = q.quantize_int8(prepared, work / f"act-{act}.onnx", calib,
                                                                        activations=act)
        files[f"{act} activations, stem in float"] = q.quantize_int8(prepared, work / f"act-{act}-stem.onnx", calib,
                                                                     activations=act, exclude_nodes=stem)
    x = calib[:1]
    sessions = {k: ort_session(p, 1) for k, p in files.items()}
    lat = interleaved({k: (lambda s=s: s.run(None, {"input": x})) for k, s in sessions.items()}, args.rounds,
                      args.budget * len(sessions))
    return {k: {"p50_ms": v, "speedup_vs_fp32": round(lat["fp32"] / v, 3)} for k, v in lat.items()}


# ---------------------------------------------------------------------------------------------- main
def headline(res: dict) -> dict:
    rows = res["rows"]

    def p50(label: str, engine: str, threads: int = 1) -> float | None:
        r = next((r for r in rows if r["label"] == label and r["engine"] == engine and r["threads"] == threads
                  and "p50_ms" in r), None)
        return r["p50_ms"] if r else None

    main, presence = res["classifiers"].get("mnist_cnn"), res["classifiers"].get("presence_resnet18")
    sq_d, sq_i = p50("squeezenet1_1", "onnxruntime"), p50("squeezenet1_1 int8", "onnxruntime")
    pr_d, pr_i = p50("presence_resnet18", "onnxruntime"), p50("presence_resnet18 int8", "onnxruntime")
    cnn_d, cnn_p = p50("mnist_cnn", "onnxruntime"), p50("mnist_cnn pruned", "onnxruntime")
    return {"int8_speedup_1t": round(sq_d / sq_i, 3) if sq_d and sq_i else None,
            "int8_accuracy_drop": main["int8"]["drop_points"] if main else None,
            "structured_latency_ratio": round(cnn_d / cnn_p, 3) if cnn_d and cnn_p else None,
            "structured_accuracy_drop": main["shrink"]["drop_points"] if main else None,
            "int8_trained_presence": ({"speedup_1t": round(pr_d / pr_i, 3) if pr_d and pr_i else None,
                                         "accuracy_drop": presence["int8"]["drop_points"]} if presence else None),
            "peak_gmacs_1t": (res["peak_gmacs"].get("1") or {}).get("fp32")}


def bench_all(res: dict, args: argparse.Namespace) -> dict:
    arts, labels = [], []
    for key, m in res["classifiers"].items():
        for tag, path in m["artifacts"].items():
            arts.append(path)
            labels.append(key if tag == "fp32" else f"{key} {tag.replace('pruned_int8', 'pruned+int8')}")
    for key, m in res["latency"].items():
        a = m["artifacts"]
        for tag, label in (("dense", key), ("dense_int8", f"{key} int8"), ("pruned", f"{key} pruned"),
                           ("pruned_int8", f"{key} pruned+int8")):
            arts.append(a[tag])
            labels.append(label)
    say(f"bench: {len(arts)} artifacts × engines × threads {args.threads}")
    cfg = BenchConfig(artifacts=arts, labels=labels, threads=args.threads, budget_s=args.budget, rounds=args.rounds,
                      torch_bf16=True, expand_exports=False)
    return bench_artifacts(cfg)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "speed.json"))
    p.add_argument("--work", default=str(ROOT / "runs" / "bench-speed"), help="run folders (reused on re-runs)")
    p.add_argument("--epochs", type=int, default=4, help="MNIST training epochs (the presence set trains 6× as many)")
    p.add_argument("--ft-epochs", type=int, default=2, help="fine-tuning epochs after pruning or factorizing")
    p.add_argument("--threads", type=lambda s: [int(t) for t in s.split(",")], default=[1, 2])
    p.add_argument("--budget", type=float, default=1.0, help="timing seconds per row and batch size")
    p.add_argument("--rounds", type=int, default=4, help="interleaved timing rounds")
    p.add_argument("--limit", type=int, default=None, help="cap samples per split (smoke runs only)")
    p.add_argument("--models", default=",".join(CLASSIFIERS), help="classifiers to train and compress")
    p.add_argument("--train-only", action="store_true",
                   help="only train and prune+fine-tune the MNIST models (no timing: may run without the lock); "
                        "the full run then resumes from these run folders")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if find_dataset("mnist") is None:
        print("MNIST not found (../shared/datasets/mnist or $EDGEVISION_DATA); nothing measured", file=sys.stderr)
        return 2
    t0 = time.time()
    work = Path(args.work)
    res: dict = {"config": {k: v for k, v in vars(args).items()}, "classifiers": {}, "latency": {}}
    for key in args.models.split(","):
        if key not in CLASSIFIERS:
            print(f"--models: unknown {key!r}; choose from {', '.join(CLASSIFIERS)}", file=sys.stderr)
            return 2
        res["classifiers"][key] = classifier(key, args, work)
    if args.train_only:
        say("trained and pruned; now run the full benchmark under the lock")
        return 0
    images = coco_images()
    for key in LATENCY_MODELS:
        say(f"{key}: export dense and pruned, fp32 and int8")
        res["latency"][key] = latency_model(key, images, work)
    cases = {"squeezenet1_1@224": _case(res["latency"]["squeezenet1_1"]["artifacts"], images)}
    for key, size in (("mnist_cnn", 28), ("presence_resnet18", 96)):
        if key in res["classifiers"]:
            cases[f"{key}@{size}"] = _trained_case(res["classifiers"][key]["artifacts"])
    res["int8_engines"] = int8_engines(cases, args)
    say("ablations: round_to and activation type")
    torch.set_num_threads(1)
    if "mnist_cnn" in res["classifiers"]:
        res["round_to_ablation"] = round_to_ablation(res["classifiers"]["mnist_cnn"]["artifacts"]["fp32"], work, args)
    res["activation_ablation"] = activation_ablation(res["latency"]["squeezenet1_1"]["artifacts"], images[:96],
                                                     work, args)
    bench = bench_all(res, args)
    res.update(rows=bench["rows"], verdicts=bench["verdicts"], peak_gmacs=bench["peak_gmacs"],
               machine=bench["machine"])
    res = {**headline(res), **res, "seconds": round(time.time() - t0, 1)}
    save("speed", res, args.out)
    print(format_table(bench))
    say(f"headline: { {k: res[k] for k in list(headline(res))} }")
    say(f"wrote {args.out} in {res['seconds']:.0f} s")
    return 0


def _case(arts: dict, images: np.ndarray) -> tuple:
    art = ev.load_artifact(arts["dense"])
    return art.model, Path(arts["dense"]).with_suffix(".onnx"), Path(arts["dense_int8"]), images[:96]


def _trained_case(arts: dict) -> tuple:
    art = ev.load_artifact(arts["fp32"])
    int8 = Path(arts["int8"])
    from edgevision.data import load_data
    from edgevision.data.sources import DataConfig

    splits = load_data(DataConfig.model_validate(art.meta["data"]), "classification")
    calib = q.sample_array(splits.train, splits, 256)
    return art.model, int8.with_name("model.onnx"), int8, calib


if __name__ == "__main__":
    sys.exit(main())

