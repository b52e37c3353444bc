"""Tiny artifacts of every task (random weights: the demo's plumbing is under test, not accuracy) and a short
synthetic video written with cv2.VideoWriter."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from edgevision.artifacts import save_model
from edgevision.models import build_model

PRE = {"channels": 3, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25], "scale": 1 / 255}


def _pre(h: int, w: int) -> dict:
    return {**PRE, "input_size": [h, w]}


def make_artifact(task: str, folder: Path) -> Path:
    """A saved ``.pt`` of ``task``: classification, presence, localization, detection or segmentation."""
    torch.manual_seed(0)
    folder.mkdir(parents=True, exist_ok=True)
    if task in ("classification", "presence"):
        names = ["circle", "square", "triangle"] if task == "classification" else ["absent", "present"]
        model = build_model("student_cnn", width=4, depth=2, num_classes=len(names))
        spec, size = {"name": "classification", "class_names": names, "label_smoothing": 0.0}, (32, 32)
    elif task == "localization":
        model = build_model("student_cnn", width=4, depth=2, num_classes=4 + 2)
        spec, size = {"name": "localization", "class_names": ["a", "b"], "input_size": [32, 32]}, (32, 32)
    elif task == "detection":
        model = build_model("squeezedet_small", num_classes=2, num_anchors=3, dropout=0.0)
        spec = {"name": "detection", "class_names": ["person", "car"], "input_size": [64, 64],
                "anchors": [[12.0, 20.0], [24.0, 24.0], [40.0, 30.0]], "score_threshold": 0.0}
        size = (64, 64)
    elif task == "segmentation":
        model = build_model("enet", num_classes=3, width_mult=0.25)
        spec = {"name": "segmentation", "class_names": ["background", "a", "b"], "loss": "ce", "ignore_index": 255,
                "class_weights": None, "smooth": 1.0, "label_smoothing": 0.0}
        size = (32, 32)
    else:
        raise ValueError(task)
    return save_model(folder / "model.pt", model.eval(), task=spec, preprocess=_pre(*size))


def make_video(path: Path, frames: int = 12, size: tuple[int, int] = (96, 72), fps: float = 10.0) -> Path:
    """A moving disc on a gradient, ``frames`` frames of ``size`` (W, H), MJPEG AVI or MP4 by suffix."""
    fourcc = cv2.VideoWriter_fourcc(*("MJPG" if path.suffix == ".avi" else "mp4v"))
    w, h = size
    wr = cv2.VideoWriter(str(path), fourcc, fps, size)
    assert wr.isOpened()
    xs = np.linspace(0, 255, w, dtype=np.uint8)
    for i in range(frames):
        img = np.dstack([np.tile(xs, (h, 1)), np.full((h, w), (60 + 10 * i) % 256, np.uint8),
                         np.tile(xs[::-1], (h, 1))])
        cv2.circle(img, (10 + (6 * i) % max(w - 20, 1), h // 2), 12, (255, 255, 255), -1)
        wr.write(np.ascontiguousarray(img))
    wr.release()
    return path


def count_frames(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n
