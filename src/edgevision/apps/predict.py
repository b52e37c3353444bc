"""The ``predict`` stage: run an artifact on image files or folders; write predictions and drawn images."""

from __future__ import annotations

import inspect
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from ..artifacts import Artifact, load_artifact
from ..config import dump
from ..configs.apps import PredictConfig
from ..data.imageio import is_image_file, read_image
from ..data.unreadable import SKIPPED_FILE, describe
from ..errors import DataError
from ..ops.letterbox import LETTERBOX_PAD, fit_image
from ..runs import RunDir, make_card
from ..stages import StageResult, run_stage, stage
from ..tasks import build_task
from ..train.objects import module_input
from ..utils.io import write_text
from ..utils.progress import console
from ..utils.text import printable


def list_inputs(inputs: list[str]) -> list[Path]:
    files: list[Path] = []
    for s in inputs:
        p = Path(s)
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if is_image_file(f))
        elif p.is_file():
            files.append(p)
        else:
            raise DataError(f"{p}: no such file or folder")
    if not files:
        raise DataError(f"no images found in {', '.join(inputs)}")
    return files


def drawing_names(files: list[Path]) -> list[Path]:
    """Where each file's drawing goes: its path relative to the inputs' common folder, as ``.png``
    (``a/x.jpg``, ``b/x.jpg`` → ``a/x.png``, ``b/x.png``); two files that would share a name (``x.jpg``, ``x.png``)
    keep their own suffix (``x.jpg.png``, ``x.png.png``)."""
    full = [f.resolve() for f in files]
    root = Path(os.path.commonpath([str(f.parent) for f in full]))
    rel = [f.relative_to(root) for f in full]
    plain = [r.with_suffix(".png") for r in rel]
    taken = Counter(plain)
    return [p if taken[p] == 1 else r.with_name(f"{r.name}.png") for p, r in zip(plain, rel)]


def to_channels(img: np.ndarray, channels: int) -> np.ndarray:
    """An RGB (H, W, 3) or grey (H, W[, 1]) uint8 image with ``channels`` (1 or 3) channels, as (H, W, C)."""
    img = img[..., None] if img.ndim == 2 else img
    if img.shape[2] == channels:
        return img
    if channels == 1:
        return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)[..., None]
    return np.repeat(img, 3, 2)


def preprocess_array(images: list[np.ndarray], pre: dict[str, Any]) -> np.ndarray:
    """RGB/grey uint8 images → the normalized (B, C, H, W) float32 array the artifact expects.

    x = (resize(image) · scale − mean) / std, with the artifact's ``input_size``, ``scale``, ``mean``, ``std``; the
    resize stretches or letterboxes as the artifact's ``resize`` says (:mod:`edgevision.ops.letterbox`).
    """
    size, ch = tuple(pre["input_size"]), int(pre.get("channels", images[0].shape[-1] if images[0].ndim == 3 else 1))
    mode, pad = pre.get("resize", "stretch"), int(pre.get("pad", LETTERBOX_PAD))
    x = np.stack([fit_image(to_channels(im, ch), size, mode, pad=pad) for im in images]).astype(np.float32)
    x *= float(pre.get("scale", 1 / 255))
    x = (x - np.asarray(pre["mean"], np.float32)) / np.asarray(pre["std"], np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32)


def preprocess(images: list[np.ndarray], pre: dict[str, Any]) -> torch.Tensor:
    """RGB/grey uint8 images → the normalized (B, C, H, W) float tensor the artifact expects."""
    return torch.from_numpy(preprocess_array(images, pre))


def predict_images(art: Artifact, images: list[np.ndarray], batch_size: int = 32) -> list[dict[str, Any]]:
    """Predictions (one dict per image) for RGB/grey uint8 images of any size."""
    task = build_task(art.task)
    preds: list[dict[str, Any]] = []
    with torch.inference_mode():
        for i in range(0, len(images), batch_size):
            chunk = images[i:i + batch_size]
            out = art.model(preprocess(chunk, art.preprocess))
            preds += task.decode(out, **decode_options(task, art.preprocess, [im.shape[:2] for im in chunk]))
    return preds


def decode_options(task: Any, pre: dict[str, Any], sizes: list[tuple[int, int]]) -> dict[str, Any]:
    """The keyword arguments of ``task.decode`` that map its output to images of ``sizes``: the sizes, and the
    artifact's resize mode for tasks that undo a letterbox."""
    params = inspect.signature(task.decode).parameters
    out: dict[str, Any] = {"image_sizes": sizes} if "image_sizes" in params else {}
    if "resize" in params:
        out["resize"] = pre.get("resize", "stretch")
    return out


@stage("predict", PredictConfig, input_field="artifact", summary="run an artifact on images")
def run_predict(cfg: PredictConfig, out: Path) -> StageResult:
    art = load_artifact(cfg.artifact, cfg.onnx_description())
    task = build_task(art.task)
    files = list_inputs(cfg.inputs)
    run = RunDir(out)
    lines, unreadable = predict_files(cfg, art, task, files, run)
    if not lines:  # nothing to show for it: no run folder either
        raise DataError(nothing_read(cfg.inputs, unreadable))
    write_text(run.path / "predictions.jsonl", "".join(json.dumps(x) + "\n" for x in lines))
    for x in lines[:20]:
        console.print(f"{x['file']}: {task.describe(x)}", highlight=False)
    if unreadable:
        write_text(run.path / SKIPPED_FILE, "".join(f"inputs\t{printable(f)}\n" for f in unreadable))
        console.print(f"[yellow]warning:[/] {describe(unreadable, 'in the inputs')}", highlight=False, soft_wrap=True)
    card = make_card("predict", task=art.task, parent=str(art.path), metrics={"n": len(lines),
                     "unreadable": len(unreadable)})
    run.write_card(card)
    return StageResult(run.path, None, card)


def predict_files(cfg: PredictConfig, art: Artifact, task: Any, files: list[Path], run: RunDir
                  ) -> tuple[list[dict[str, Any]], list[str]]:
    """Predictions (one dict per readable file) and the unreadable files' names, batch by batch; the run folder
    (config, drawings) is made at the first readable batch."""
    ch = int(art.preprocess["channels"])
    lines: list[dict[str, Any]] = []
    unreadable: list[str] = []
    drawn = dict(zip(files, drawing_names(files)))
    for i in range(0, len(files), cfg.batch_size):
        chunk = [(f, im) for f in files[i:i + cfg.batch_size] if (im := read_image(f, ch)) is not None]
        unreadable += [str(f) for f in files[i:i + cfg.batch_size] if f not in {c[0] for c in chunk}]
        if not chunk:
            continue
        if not lines:
            run.mkdir().write_config(dump(cfg))
        preds = predict_images(art, [im for _, im in chunk], cfg.batch_size)
        for (f, im), p in zip(chunk, preds):
            lines.append({"file": str(f), **p, **({"drawing": str(drawn[f])} if cfg.draw else {})})
            if cfg.draw:
                rgb = im if im.shape[2] == 3 else np.repeat(im, 3, 2)
                target = run.path / drawn[f]
                target.parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(target), cv2.cvtColor(task.draw(rgb, p), cv2.COLOR_RGB2BGR))
    return lines, unreadable


def nothing_read(inputs: list[str], unreadable: list[str]) -> str:
    """The line for inputs none of whose image files could be decoded."""
    shown = ", ".join(printable(Path(f).name) for f in unreadable[:3])
    more = f", … (+{len(unreadable) - 3} more)" if len(unreadable) > 3 else ""
    n = len(unreadable)
    return (f"{', '.join(inputs)}: no image could be read ({n} file{'s' if n != 1 else ''}, all unreadable: "
            f"{shown}{more}); expected images OpenCV can decode (.jpg, .png, ...)")


def predict(artifact: str | Path | nn.Module, inputs: list[str | Path], out: str | Path | None = None,
            **options: Any) -> StageResult:
    """Run an artifact on images; writes ``predictions.jsonl`` and drawn images into the run folder."""
    artifact, out, options = module_input(artifact, "predict", out, options)
    return run_stage("predict", {"artifact": str(artifact), "inputs": [str(i) for i in inputs], **options}, out)


def read_predictions(res: StageResult) -> list[dict[str, Any]]:
    """The predictions a run wrote, one dict per image (``edgevision predict --json``)."""
    text = (res.run_dir / "predictions.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]
