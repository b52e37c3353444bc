"""Engines benchmark: every engine × precision on the same graphs, batch 1, 1 and 2 threads, interleaved in one run.

One command, in a venv with the openvino extra (and the litert, executorch and ncnn extras for their rows: ``pip
install -e ".[openvino,litert,executorch,ncnn]"``), from ``benchmarks/``, under the shared lock so timings are not
disturbed by other benchmarks::

    flock /tmp/edgevision-bench.lock ../.venv-bench/bin/python engines.py

Models: SqueezeNet-1.1 224² and MobileNetV1-0.5 224² (1000 classes), FastLinkNet 256² (2-class masks) and
SqueezeDet-small 256² (1 class; the first output, the ConvDet map, is compared) and timm's
``mobilenetv3_small_100`` 224² (a user's own architecture, through the ``timm:`` reference) are untrained (there is
no ImageNet here), so their files are calibrated on real COCO128 photos, 96 for calibration and the other 32 held
out for the agreement with fp32. timm needs torch 2.14.1, so its row comes from a second run in a venv with the zoo
extra beside the others (``--models timm_mobilenetv3_small_100@224 --merge``); each model records its ``torch``.
The people-presence ResNet-18 ×0.5 at 96² is trained in the run (``speed.py``'s recipe: 24
epochs on ``presence:pennfudan+coco128``, resumable in ``--work``); its files are calibrated on 256 of its training
images and every file's top-1 accuracy is measured on the whole test split (``accuracy``, ``accuracy_drop_points``
against torch fp32). Per model:

- torch eager fp32;
- onnxruntime fp32 and edgevision's int8 (QDQ U8S8 per channel, minmax, ``deploy.int8``);
- OpenVINO on the IR converted from the same ONNX graph: fp32 (f32 hint), bf16 hint (bf16 only on CPUs with
  AVX-512-BF16/AMX, else it runs f32: ``bf16_units`` says which), NNCF int8 (``deploy.openvino.quantize_int8``),
  and edgevision's QDQ int8 file read by OpenVINO directly;
- LiteRT (when the litert extra is installed): ``.tflite`` fp32 and full-integer int8 (PT2E, the same 96
  calibration photos), in the interpreter with XNNPACK;
- ExecuTorch (when the executorch extra is installed): ``.pte`` fp32 and PT2E int8 with the XNNPACK delegate;
- ncnn (when the ncnn extra is installed): fp32 through pnnx from the same ONNX graph (ncnn's wheel has no int8
  calibration tool).

Latency: ``utils.timing.interleaved`` (batch 1, rounds of 0.15 s per runner, 5–12 rounds until every ratio's
relative standard error ≤ 1 %; median of the pooled runs), per thread count, all runners of a model in the same
rounds. Ratios are onnxruntime fp32 p50 / p50.

Writes ``benchmarks/results/engines.json``: ``engines_tested``; per model ``latency_ms`` and ``vs_ort_fp32`` per
thread count, ``file_bytes``, ``agreement`` (top-1 with onnxruntime fp32), ``cosine`` (of the outputs with it),
``top2_margin_fp32`` (how far the reference's top-1 is from a tie), ``not_converted`` (a converter's refusal),
``best_engine`` (fastest at 1 thread), ``best_int8`` and
``best_int8_speedup_vs_ort_fp32_1t``; ``target`` (SqueezeNet-1.1 best int8 ≥ 3.8× onnxruntime fp32 at 1 thread)
and ``trained_target`` (the trained model's fastest int8 file within 1 point of fp32 accuracy).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import tempfile
from pathlib import Path

import numpy as np
import torch

import edgevision as ev
from _common import RESULTS, save
from edgevision.artifacts import load_artifact
from edgevision.data.loader import BatchLoader, BatchTransform
from edgevision.deploy import executorch as etx
from edgevision.deploy import litert, ncnn
from edgevision.deploy import openvino as ovx
from edgevision.deploy.int8 import graph as q
from edgevision.deploy.litert_runtime import Runner as LiteRTRunner
from edgevision.deploy.onnx import export_onnx, ort_session
from edgevision.deploy.runtimes import file_bytes
from edgevision.errors import EdgevisionError
from edgevision.models import build_model, count_params
from edgevision.models.complexity import count_macs
from edgevision.train.evaluate import data_for
from edgevision.utils.threads import compute_threads
from edgevision.utils.timing import interleaved
from speed import CLASSIFIERS, coco_images

MODELS = {"squeezenet1_1@224": ("squeezenet1_1", {"num_classes": 1000}, 224),
          "mobilenet_v1_0.5@224": ("mobilenet_v1", {"width_mult": 0.5, "num_classes": 1000}, 224),
          "fastlinknet@256": ("fastlinknet", {"num_classes": 2}, 256),
          "squeezedet_small@256": ("squeezedet_small", {"num_classes": 1}, 256),
          "timm_mobilenetv3_small_100@224": ("timm:mobilenetv3_small_100", {"num_classes": 1000}, 224)}
FOREIGN = {k for k, v in MODELS.items() if ":" in v[0]}  # built by timm: measured in the zoo venv (torch 2.14.1)
PRESENCE = "presence_resnet18_0.5@96"
TARGET = 3.8


def say(msg: str) -> None:
    print(msg, flush=True)


def build_files(model: torch.nn.Module, size: int, calib: np.ndarray, hold: np.ndarray, work: Path) -> dict:
    """The model, its fp32 ONNX, edgevision's int8 ONNX, the OpenVINO fp32 / NNCF int8 models and the on-device
    files whose extras are installed (a converter's refusal is recorded in ``not_converted``)."""
    model = model.eval()
    fp32 = export_onnx(model, work / "model.onnx", (3, size, size))
    prepared = q.prepare_for_int8(fp32, work / "prepared.onnx")
    int8 = q.quantize_int8(prepared, work / "model.int8.onnx", calib, method="minmax", per_channel=True)
    ov_model = ovx.convert(fp32)
    ref = q.run_onnx(fp32, hold)
    nncf_model, report = ovx.quantize_int8(ov_model.clone(), calib, hold, ref, max_drop=1.0)  # defaults, no fallback
    ovx.save_ir(ov_model, work / "model.xml", {"precision": "fp32"})
    ovx.save_ir(nncf_model, work / "model.int8.xml", {"precision": "int8"})
    files = {"model": model, "fp32": fp32, "int8": int8, "xml": work / "model.xml",
             "xml_int8": work / "model.int8.xml", "hold": hold, "ref": ref, "nncf": report, "not_converted": {}}
    shape = (3, size, size)
    for key, mod, suffix in (("tflite", litert, "tflite"), ("pte", etx, "pte"), ("ncnn", ncnn, "ncnn.param")):
        if not mod.available():
            continue
        try:  # a converter that rejects the model is a result, not a crash
            files[key] = mod.convert_fp32(model, shape, work / f"model.{suffix}")
            if hasattr(mod, "convert_int8"):
                files[f"{key}_int8"] = mod.convert_int8(model, shape, calib, work / f"model.int8.{suffix}")
        except EdgevisionError as e:
            files["not_converted"][key] = str(e)[:400]
            say(f"  {key}: {str(e)[:200]}")
    return files


DEVICE = {"litert fp32": ("tflite", LiteRTRunner), "litert int8": ("tflite_int8", LiteRTRunner),
          "executorch fp32": ("pte", lambda p, n: etx.Runner(p, n)),
          "executorch int8": ("pte_int8", lambda p, n: etx.Runner(p, n)),
          "ncnn fp32": ("ncnn", lambda p, n: ncnn.Runner(p, n))}  # label → (file key, runner)


def device_runners(f: dict, threads: int) -> dict:
    """label → run(x) of the on-device files that were built."""
    return {k: make(f[key], threads) for k, (key, make) in DEVICE.items() if key in f}


def runners(f: dict, threads: int) -> dict:
    """label → run(x) for every engine × precision of one model."""
    def ort(path: Path):
        s = ort_session(path, threads)
        return lambda x: s.run(None, {"input": x})

    def torch_run(x: np.ndarray):
        with torch.inference_mode():
            return f["model"](torch.from_numpy(x))

    return {"onnxruntime fp32": ort(f["fp32"]), "onnxruntime int8": ort(f["int8"]), "torch fp32": torch_run,
            "openvino fp32": ovx.runner(f["xml"], threads, "fp32"),
            "openvino bf16": ovx.runner(f["xml"], threads, "bf16"),
            "openvino int8 (nncf)": ovx.runner(f["xml_int8"], threads, "int8"),
            "openvino int8 (edgevision qdq)": ovx.runner(f["int8"], threads, "int8"), **device_runners(f, threads)}


def outputs(f: dict) -> dict:
    """label → the first output on the 32 held-out photos, for every file but onnxruntime fp32 (the reference)."""
    hold = f["hold"]
    return {"onnxruntime int8": q.run_onnx(f["int8"], hold), "openvino fp32": ovx.run_ir(f["xml"], hold, "fp32"),
            "openvino bf16": ovx.run_ir(f["xml"], hold, "bf16"),
            "openvino int8 (nncf)": ovx.run_ir(f["xml_int8"], hold, "int8"),
            "openvino int8 (edgevision qdq)": ovx.run_ir(f["int8"], hold, "int8"),
            **{k: run(hold) for k, run in device_runners(f, 1).items()}}


def margin(ref: np.ndarray) -> float:
    """Median gap between the two largest fp32 outputs (over the class axis), relative to their spread: near 0, top-1
    agreement is a coin toss between ties."""
    top = np.sort(ref.reshape(len(ref), ref.shape[1], -1), axis=1)
    gap = (top[:, -1] - top[:, -2]) / (top.std(axis=1) + 1e-12)
    return round(float(np.median(gap)), 4)


def cosine(out: np.ndarray, ref: np.ndarray) -> float:
    """Mean over photos of cos(output, reference), each flattened: how close the numbers are, which top-1 agreement
    does not tell where an untrained model's logits are near ties."""
    a, b = out.reshape(len(out), -1).astype(np.float64), ref.reshape(len(ref), -1).astype(np.float64)
    return round(float(np.mean((a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)))), 6)


def fidelity(f: dict) -> tuple[dict, dict]:
    """Top-1 agreement (per position for maps) and output cosine with onnxruntime fp32 on the held-out photos."""
    outs = outputs(f)
    return ({k: q.agreement(o, f["ref"]) for k, o in outs.items()}, {k: cosine(o, f["ref"]) for k, o in outs.items()})


def accuracy(f: dict, labels: np.ndarray) -> dict:
    """Top-1 accuracy on the test split of torch fp32 and of every file, and each file's drop in points."""
    with torch.inference_mode():
        ref = f["model"](torch.from_numpy(f["hold"])).numpy()
    outs = {"torch fp32": ref, "onnxruntime fp32": f["ref"], **outputs(f)}
    top1 = {k: round(float((o.argmax(1) == labels).mean()), 4) for k, o in outs.items()}
    return {"accuracy": top1, "accuracy_drop_points": {k: round(100 * (top1["torch fp32"] - v), 2)
                                                       for k, v in top1.items()}, "test_samples": len(labels)}


def measure_model(key: str, case: dict, threads: list[int], round_s: float) -> dict:
    """Build every file of one model, check its fidelity (and accuracy when it is trained), time all engines."""
    model, size = case["model"], case["size"]
    with tempfile.TemporaryDirectory() as tmp:
        say(f"{key}: building files")
        f = build_files(model, size, case["calib"], case["hold"], Path(tmp))
        x = np.random.default_rng(0).standard_normal((1, 3, size, size), np.float32)
        out = {"input": f"3x{size}x{size}", "trained": case.get("labels") is not None, "params": count_params(model),
               "macs": count_macs(model, (3, size, size)), "latency_ms": {}, "vs_ort_fp32": {}, "rounds": {},
               "file_bytes": {"onnx fp32": f["fp32"].stat().st_size, "onnx int8": f["int8"].stat().st_size,
                              "openvino fp32": ovx.ir_bytes(f["xml"]), "openvino int8": ovx.ir_bytes(f["xml_int8"]),
                              **{k: file_bytes(f[key]) for k, (key, _) in DEVICE.items() if key in f}},
               "nncf": f["nncf"], "not_converted": f["not_converted"]}
        out["agreement"], out["cosine"] = fidelity(f)
        out["top2_margin_fp32"] = margin(f["ref"])
        if case.get("labels") is not None:
            out.update(accuracy(f, case["labels"]), **case.get("info", {}))
        for n in threads:
            with compute_threads(n):
                fns = {k: (lambda r=r: r(x)) for k, r in runners(f, n).items()}
                res = interleaved(fns, baseline="onnxruntime fp32", min_rounds=5, max_rounds=12, round_s=round_s)
            out["latency_ms"][str(n)] = {k: v["p50_ms"] for k, v in res["latency"].items()}
            out["vs_ort_fp32"][str(n)] = {k: round(v, 3) for k, v in res["speedup"].items()}
            out["rounds"][str(n)] = {"rounds": res["rounds"], "stable": res["stable"]}
            say(f"  {n} thread(s): " + ", ".join(f"{k} {v:.3f} ms" for k, v in out["latency_ms"][str(n)].items()))
    return {**out, **best_of(out, str(threads[0]))}


def best_of(out: dict, n: str) -> dict:
    """The fastest engine, the fastest int8 file (within 1 point of fp32 accuracy when the model is trained)."""
    one = out["vs_ort_fp32"][n]
    int8 = {k: v for k, v in one.items() if "int8" in k}
    best = max(int8, key=int8.get)
    res = {"best_engine": max(one, key=one.get), "best_int8": best, "best_int8_speedup_vs_ort_fp32_1t": int8[best],
           "gmacs_1t": {k: round(out["macs"] / (v * 1e6), 2) for k, v in out["latency_ms"][n].items()}}
    if "accuracy_drop_points" in out:
        ok = {k: v for k, v in int8.items() if out["accuracy_drop_points"][k] <= 1.0}
        res["best_int8_within_1_point"] = max(ok, key=ok.get) if ok else None
    return res


def untrained(key: str, images: np.ndarray) -> dict:
    """A registered (or timm) model with seeded random weights, calibrated on 96 COCO128 photos, 32 held out."""
    name, kwargs, size = MODELS[key]
    torch.manual_seed(0)
    photos = images if size == 224 else coco_images(128, size)
    return {"model": build_model(name, **kwargs), "size": size, "calib": photos[:96], "hold": photos[96:]}


def _arrays(ds, mean: list[float], std: list[float], limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Normalized images and labels of a split, as the trainer feeds them."""
    xs, ys = [], []
    for batch in BatchLoader(ds, 64, shuffle=False, transform=BatchTransform(mean, std)):
        xs.append(batch["image"].numpy())
        ys.append(batch["label"].numpy())
        if limit and sum(map(len, xs)) >= limit:
            break
    return np.concatenate(xs)[:limit], np.concatenate(ys)[:limit]


def presence(work: Path) -> dict:
    """The people-presence ResNet-18 ×0.5, trained with ``speed.py``'s recipe (resumed when ``work`` has it)."""
    name, kwargs, lr, data, augment, scale, _ = CLASSIFIERS["presence_resnet18"]
    epochs = 4 * scale
    say(f"{PRESENCE}: train {epochs} epochs in {work}")
    res = ev.train(model=name, model_kwargs=kwargs, data=data, epochs=epochs, lr=lr, schedule="cosine", out=work,
                   optimizer="adamw", weight_decay=1e-4, resume=True, augment=augment, batch_size=32)
    art = load_artifact(res.artifact)
    _, splits = data_for(art, None, "classification")
    calib, _ = _arrays(splits.train, splits.mean, splits.std, limit=256)
    hold, labels = _arrays(splits.test, splits.mean, splits.std)
    return {"model": art.model, "size": splits.input_size[0], "calib": calib, "hold": hold, "labels": labels,
            "info": {"data": data["source"], "epochs": epochs, "train_samples": len(splits.train)}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="*", default=None,
                    help="default: every model this venv can build (timm's only where timm imports)")
    ap.add_argument("--merge", action="store_true", help="keep the other models of the results file (a second venv "
                    "adds its rows: the timm model needs torch 2.14.1)")
    ap.add_argument("--threads", nargs="*", type=int, default=[1, 2])
    ap.add_argument("--round-s", type=float, default=0.15)
    ap.add_argument("--work", type=Path, default=Path(__file__).resolve().parents[1] / "runs" / "bench-engines")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    has_timm = importlib.util.find_spec("timm") is not None
    args.models = args.models or [k for k in [*MODELS, PRESENCE] if k not in FOREIGN or has_timm]
    images = coco_images(128, 224)
    cases = {k: (lambda k=k: presence(args.work / "presence") if k == PRESENCE else untrained(k, images))
             for k in args.models}
    models = {k: {**measure_model(k, make(), args.threads, args.round_s), "torch": torch.__version__}
              for k, make in cases.items()}
    tested = ["torch", "onnxruntime", "openvino"] + [e for e, m in (("litert", litert), ("executorch", etx),
                                                                     ("ncnn", ncnn)) if m.available()]
    path = args.out or RESULTS / "engines.json"
    if args.merge and path.is_file():
        old = json.loads(path.read_text())
        models = {**{k: v for k, v in old["models"].items() if k not in models}, **models}
        tested = list(dict.fromkeys(old["engines_tested"] + tested))
    sq, pr = models.get("squeezenet1_1@224"), models.get(PRESENCE)
    result = {"engines_tested": tested, "threads": args.threads,
              "bf16_units": ovx.has_bf16(), "openvino": ovx.require().__version__,
              "nncf": ovx.require("nncf").__version__, "batch": 1, "models": models,
              "target": {"model": "squeezenet1_1@224", "min_best_int8_speedup_vs_ort_fp32_1t": TARGET,
                         "value": sq["best_int8_speedup_vs_ort_fp32_1t"] if sq else None,
                         "met": bool(sq and sq["best_int8_speedup_vs_ort_fp32_1t"] >= TARGET)},
              "trained_target": trained_target(pr)}
    save("engines", result, path)


def trained_target(m: dict | None) -> dict | None:
    """The trained model's fastest int8 file, its speed-up and its accuracy drop (target: ≤ 1 point)."""
    if m is None:
        return None
    best = m["best_int8"]
    return {"model": PRESENCE, "max_drop_points": 1.0, "fastest_int8": best,
            "speedup_vs_ort_fp32_1t": m["best_int8_speedup_vs_ort_fp32_1t"],
            "drop_points": m["accuracy_drop_points"][best], "met": m["accuracy_drop_points"][best] <= 1.0,
            "fastest_int8_within_1_point": m["best_int8_within_1_point"]}


if __name__ == "__main__":
    main()
