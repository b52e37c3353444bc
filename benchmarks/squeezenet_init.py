"""SqueezeNet-1.1 from scratch on the person-presence set: PyTorch's default init against He init.

SqueezeNet (Iandola et al. 2016) has no BatchNorm: 18 convs and ReLUs between the image and the logits. PyTorch's
default conv init, ``kaiming_uniform_(a=√5)``, draws ``Var(W) = 1 / (3·fan_in)``; through a ReLU each such conv
keeps only ``Var(y) ≈ fan_in·Var(W)·E[x²] = (1/3)·E[x²]`` of the signal, so it fades layer after layer. He et al.
2015 ("Delving deep into rectifiers") choose ``Var(W) = 2 / fan_in``, which keeps it constant: that is the init of
SqueezeNet's reference code (torchvision), and edgevision's since this benchmark.

1. Signal: on real test images, the ratio std(trunk output) / std(input), and how much the logits differ from
   image to image, for both inits.
2. Training: people_presence's loop (AdamW, cosine, augmentation; 12 epochs here), five variants, run two at a time
   on one thread each: default init with ReLU or LeakyReLU 0.1; He init with ReLU, LeakyReLU 0.1 or BatchNorm. The
   default-init runs start from an artifact holding those weights (``init=``), so all five go through
   ``edgevision.train``.

Writes ``benchmarks/results/squeezenet_init.json``::

    .venv/bin/python benchmarks/squeezenet_init.py
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch
from torch import nn

import edgevision as ev
from _common import require, save
from edgevision.data import DataConfig, load_data
from edgevision.runs import RunDir
from edgevision.train.stage import preprocess_of
from people_presence import DATA, KEYS, loop

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {"default_relu": {}, "default_leaky": {"leaky": 0.1}, "he_relu": {}, "he_leaky": {"leaky": 0.1},
            "he_bn": {"bn": True}}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--jobs", type=int, default=2, help="runs at a time, one thread each")
    p.add_argument("--out", default=str(ROOT / "runs" / "bench" / "squeezenet_init"))
    p.add_argument("--results", default=str(ROOT / "benchmarks" / "results" / "squeezenet_init.json"))
    return p.parse_args()


def default_init(model: nn.Module) -> nn.Module:
    """Re-draw every conv with PyTorch's own default (``reset_parameters``), as before He init."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            m.reset_parameters()
    return model


def signal(model: nn.Module, x: torch.Tensor) -> dict[str, float]:
    with torch.no_grad():
        feats, logits = model.eval().features(x), model(x)
    return {"trunk_std_over_input_std": float(feats.std() / x.std()),
            "logit_std_across_images": float(logits.std(0).mean())}


def run(name: str, kwargs: dict[str, Any], init: str | None, out: str, epochs: int) -> dict[str, Any]:
    torch.set_num_threads(1)
    res = ev.train(out=out, model="squeezenet1_1", model_kwargs=kwargs, init=init, **loop(epochs, False))
    hist = [round(h["train_loss"], 4) for h in RunDir(out).history()]
    return {"name": name, "model_kwargs": kwargs, "init": "pytorch default" if init else "he",
            "test": {k: res.metrics["test"].get(k) for k in KEYS}, "train_loss": hist, "run": out}


def main() -> None:
    args = parse_args()
    require("penn_fudan_ped")
    require("coco128")
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    splits = load_data(DataConfig.model_validate(DATA))
    x = (splits.test.images[:64].float() / 255 - torch.tensor(splits.mean).view(1, -1, 1, 1)) \
        / torch.tensor(splits.std).view(1, -1, 1, 1)
    torch.manual_seed(0)
    he = ev.build_model("squeezenet1_1", num_classes=splits.num_classes)
    old = default_init(ev.build_model("squeezenet1_1", num_classes=splits.num_classes))
    sig = {"default_init": signal(old, x), "he": signal(he, x)}
    init_art = str(ev.save_model(out / "default_init.pt", old, task={"name": "classification",
                                 "class_names": splits.class_names}, preprocess=preprocess_of(splits)))
    with ProcessPoolExecutor(args.jobs, mp_context=mp.get_context("spawn")) as pool:
        jobs = [pool.submit(run, k, kw, init_art if k.startswith("default") else None, str(out / k), args.epochs)
                for k, kw in VARIANTS.items()]
        runs = [j.result() for j in jobs]
    save("squeezenet_init", {"signal": sig, "runs": runs, "epochs": args.epochs, "threads_per_run": 1,
                             "jobs": args.jobs, "images_for_signal": len(x), "data": DATA}, args.results)
    for r in runs:
        print(f"{r['name']:18s} test F1@0.5 {r['test']['f1_at_0.5']:.3f}  AUC {r['test']['roc_auc'] or 0:.3f}")


if __name__ == "__main__":
    main()
