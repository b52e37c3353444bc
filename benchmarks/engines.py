"""Engines benchmark: every engine × precision on the same graphs, batch 1, 1 and 2 threads, interleaved in one run.

One command, in a venv with the openvino extra (and the litert and executorch extras for their rows: ``pip install
-e ".[openvino,litert,executorch]"``), under the shared lock so timings are not disturbed by other benchmarks::

    flock /tmp/edgevision-bench.lock .venv-bench/bin/python benchmarks/engines.py

Models (untrained: there is no ImageNet here, so every file is calibrated on real COCO128 photos, 96 for
calibration and the other 32 held out for the int8 agreement with fp32): SqueezeNet-1.1 224² and MobileNetV1-0.5
224² (1000 classes), FastLinkNet 256² (2-class masks) and SqueezeDet-small 256² (1 class; the first output, the
ConvDet map, is compared). Per model:

- torch eager fp32;
- onnxruntime fp32 and edgevision's int8 (QDQ U8S8 per channel, minmax, ``deploy.int8``);
- OpenVINO on the IR converted from the same ONNX graph: fp32 (f32 hint), bf16 hint (bf16 only on CPUs with
  AVX-512-BF16/AMX, else it runs f32: ``bf16_units`` says which), NNCF int8 (``deploy.openvino.quantize_int8``),
  and edgevision's QDQ int8 file read by OpenVINO directly;
- LiteRT (when the litert extra is installed): ``.tflite`` fp32 and full-integer int8 (PT2E, the same 96
  calibration photos), in the interpreter with XNNPACK;
- ExecuTorch (when the executorch extra is installed): ``.pte`` fp32 and PT2E int8 with the XNNPACK delegate.

Latency: ``utils.timing.interleaved`` (batch 1, rounds of 0.15 s per runner, 5–12 rounds until every ratio's
relative standard error ≤ 1 %; median of the pooled runs), per thread count, all runners of a model in the same
rounds. Ratios are onnxruntime fp32 p50 / p50. The trained people-presence ResNet-18 ×0.5 is not included: it needs
its own training run (``benchmarks/speed.py`` makes one), so its int8 accuracy stays in ``speed.json``.

Writes ``benchmarks/results/engines.json``: ``engines_tested``; per model ``latency_ms`` and ``vs_ort_fp32`` per
thread count, ``file_bytes``, ``agreement`` (top-1 with onnxruntime fp32), ``cosine`` (of the outputs with it),
``top2_margin_fp32`` (how far the reference's top-1 is from a tie), ``not_converted`` (a converter's refusal),
``best_engine`` (fastest at 1 thread), ``best_int8`` and
``best_int8_speedup_vs_ort_fp32_1t``; ``target`` (SqueezeNet-1.1 best int8 ≥ 3.8× onnxruntime fp32 at 1 thread).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch

from _common import save
from edgevision.deploy import executorch as etx
from edgevision.deploy import litert
from edgevision.deploy import openvino as ovx
from edgevision.deploy.int8 import graph as q
from edgevision.deploy.litert_runtime import Runner as LiteRTRunner
from edgevision.deploy.onnx import export_onnx, ort_session
from edgevision.errors import EdgevisionError
from edgevision.models import build_model, count_params
from edgevision.models.complexity import count_macs
from edgevision.utils.threads import compute_threads
from edgevision.utils.timing import interleaved
from speed import coco_images

MODELS = {"squeezenet1_1@224": ("squeezenet1_1", {"num_classes": 1000}, 224),
          "mobilenet_v1_0.5@224": ("mobilenet_v1", {"width_mult": 0.5, "num_classes": 1000}, 224),
          "fastlinknet@256": ("fastlinknet", {"num_classes": 2}, 256),
          "squeezedet_small@256": ("squeezedet_small", {"num_classes": 1}, 256)}
TARGET = 3.8


def say(msg: str) -> None:
    print(msg, flush=True)


def build_files(name: str, kwargs: dict, size: int, images: np.ndarray, work: Path) -> dict:
    """The model, its fp32 ONNX, edgevision's int8 ONNX, and the OpenVINO fp32 / NNCF int8 models."""
    torch.manual_seed(0)
    model = build_model(name, **kwargs).eval()
    calib, hold = images[:96], images[96:]
    fp32 = export_onnx(model, work / "model.onnx", (3, size, size))
    prepared = q.prepare_for_int8(fp32, work / "prepared.onnx")
    int8 = q.quantize_int8(prepared, work / "model.int8.onnx", calib, method="minmax", per_channel=True)
    ov_model = ovx.convert(fp32)
    ref = q.run_onnx(fp32, hold)
    nncf_model, report = ovx.quantize_int8(ov_model.clone(), calib, hold, ref, max_drop=1.0)  # defaults, no fallback
    ovx.save_ir(ov_model, work / "model.xml", {"precision": "fp32"})
    ovx.save_ir(nncf_model, work / "model.int8.xml", {"precision": "int8"})
    files = {"model": model, "fp32": fp32, "int8": int8, "xml": work / "model.xml",
             "xml_int8": work / "model.int8.xml", "hold": hold, "ref": ref, "nncf": report}
    shape = (3, size, size)
    files["not_converted"] = {}
    for key, mod, available in (("tflite", litert, litert.available()), ("pte", etx, etx.available())):
        if not available:
            continue
        try:  # a converter that rejects the model is a result, not a crash
            files[key] = mod.convert_fp32(model, shape, work / f"model.{key}")
            files[f"{key}_int8"] = mod.convert_int8(model, shape, calib, work / f"model.int8.{key}")
        except EdgevisionError as e:
            files["not_converted"][key] = str(e)[:400]
            say(f"  {key}: {str(e)[:200]}")
    return files


DEVICE = {"litert fp32": ("tflite", LiteRTRunner), "litert int8": ("tflite_int8", LiteRTRunner),
          "executorch fp32": ("pte", lambda p, n: etx.Runner(p, n)),
          "executorch int8": ("pte_int8", lambda p, n: etx.Runner(p, n))}  # label → (file key, runner)


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


def measure_model(key: str, images: np.ndarray, threads: list[int], round_s: float) -> dict:
    name, kwargs, size = MODELS[key]
    with tempfile.TemporaryDirectory() as tmp:
        say(f"{key}: building files")
        f = build_files(name, kwargs, size, images if size == 224 else coco_images(128, size), Path(tmp))
        x = np.random.default_rng(0).standard_normal((1, 3, size, size), np.float32)
        out = {"input": f"3x{size}x{size}", "params": count_params(f["model"]),
               "macs": count_macs(f["model"], (3, size, size)), "latency_ms": {}, "vs_ort_fp32": {}, "rounds": {},
               "file_bytes": {"onnx fp32": f["fp32"].stat().st_size, "onnx int8": f["int8"].stat().st_size,
                              "openvino fp32": ovx.ir_bytes(f["xml"]), "openvino int8": ovx.ir_bytes(f["xml_int8"]),
                              **{k: f[key].stat().st_size for k, (key, _) in DEVICE.items() if key in f}},
               "nncf": f["nncf"], "not_converted": f["not_converted"]}
        out["agreement"], out["cosine"] = fidelity(f)
        out["top2_margin_fp32"] = margin(f["ref"])
        for n in threads:
            with compute_threads(n):
                fns = {k: (lambda r=r: r(x)) for k, r in runners(f, n).items()}
                res = interleaved(fns, baseline="onnxruntime fp32", min_rounds=5, max_rounds=12, round_s=round_s)
            out["latency_ms"][str(n)] = {k: v["p50_ms"] for k, v in res["latency"].items()}
            out["vs_ort_fp32"][str(n)] = {k: round(v, 3) for k, v in res["speedup"].items()}
            out["rounds"][str(n)] = {"rounds": res["rounds"], "stable": res["stable"]}
            say(f"  {n} thread(s): " + ", ".join(f"{k} {v:.3f} ms" for k, v in out["latency_ms"][str(n)].items()))
    one = out["vs_ort_fp32"][str(threads[0])]
    out["best_engine"] = max(one, key=one.get)
    int8 = {k: v for k, v in one.items() if "int8" in k}
    out["best_int8"] = max(int8, key=int8.get)
    out["best_int8_speedup_vs_ort_fp32_1t"] = int8[out["best_int8"]]
    out["gmacs_1t"] = {k: round(out["macs"] / (v * 1e6), 2) for k, v in out["latency_ms"][str(threads[0])].items()}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="*", default=list(MODELS))
    ap.add_argument("--threads", nargs="*", type=int, default=[1, 2])
    ap.add_argument("--round-s", type=float, default=0.15)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    images = coco_images(128, 224)
    models = {k: measure_model(k, images, args.threads, args.round_s) for k in args.models}
    sq = models.get("squeezenet1_1@224")
    tested = ["torch", "onnxruntime", "openvino"] + ["litert"] * litert.available() + ["executorch"] * etx.available()
    result = {"engines_tested": tested, "threads": args.threads,
              "bf16_units": ovx.has_bf16(), "openvino": ovx.require().__version__,
              "nncf": ovx.require("nncf").__version__, "batch": 1, "models": models,
              "presence_resnet18_0.5@96": "not measured here: needs a trained artifact (benchmarks/speed.py)",
              "target": {"model": "squeezenet1_1@224", "min_best_int8_speedup_vs_ort_fp32_1t": TARGET,
                         "value": sq["best_int8_speedup_vs_ort_fp32_1t"] if sq else None,
                         "met": bool(sq and sq["best_int8_speedup_vs_ort_fp32_1t"] >= TARGET)}}
    save("engines", result, args.out)


if __name__ == "__main__":
    main()
