"""Helpers of the face tests: a drawn face that the Haar cascades detect, and an untrained face_cnn artifact."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def drawn_face(eyes: bool = True, shift: int = 0) -> np.ndarray:
    """A 240×320 grey image of a cartoon face (ellipse head, eyes, brows, nose, mouth), blurred like a photo."""
    img = np.full((240, 320), 210, np.uint8)
    cv2.ellipse(img, (160 + shift, 125), (62, 82), 0, 0, 360, 160, -1)
    if eyes:
        for x in (133 + shift, 187 + shift):
            cv2.ellipse(img, (x, 108), (13, 7), 0, 0, 360, 40, -1)
            cv2.line(img, (x - 17, 92), (x + 17, 90), 50, 5)
    cv2.line(img, (160 + shift, 110), (156 + shift, 145), 110, 4)
    cv2.ellipse(img, (160 + shift, 168), (24, 8), 0, 0, 360, 60, -1)
    return cv2.GaussianBlur(img, (7, 7), 2.5)


def face_artifact(path: Path, seed: int = 0, embed_dim: int = 16, size: int = 32) -> Path:
    """An untrained (random, seeded) face_cnn saved as a normal artifact: enough for gallery plumbing."""
    import torch

    from edgevision.artifacts import save_model
    from edgevision.models import build_model

    torch.manual_seed(seed)
    m = build_model("face_cnn", num_classes=4, embed_dim=embed_dim, widths=[4, 8, 8, 8], input_size=size).eval()
    pre = {"input_size": [size, size], "channels": 1, "mean": [0.5], "std": [0.25], "scale": 1 / 255}
    return save_model(path, m, task={"name": "face", "class_names": list("abcd")}, preprocess=pre,
                      meta={"data": {"source": "orl", "options": {"crop": "haar", "detector": {"margin": 0.1}}}})


def write_image(path: Path, img: np.ndarray) -> Path:
    cv2.imwrite(str(path), img)
    return path
