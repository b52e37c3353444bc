"""BlazeFace (Bazarevsky et al. 2019), MediaPipe's short-range face detector, as a detector choice beside Haar.

The model file is ``face_detection_short_range.tflite`` from the mediapipe 0.10.21 wheel (Apache-2.0, 230 KB),
found without importing mediapipe and run on LiteRT (``ai-edge-litert``), as for ``mediapipe-selfie``
(:mod:`edgevision.compress.distill.mediapipe_selfie`). Input: the frame letterboxed to 128×128 RGB in [−1, 1].
Outputs: 896 anchors × (16 regressors, 1 score logit).

Anchors (MediaPipe's SSD anchor options for this model): strides 8, 16, 16, 16 on the 128² input, two anchors
per cell per layer, layers of one stride sharing a grid (16² × 2 + 8² × 6 = 896), fixed size 1, centres
``((x + 0.5) / f, (y + 0.5) / f)``. Decode, per anchor a with centre (a_x, a_y) and regressors r::

    c_x = a_x + r_0 / 128,   c_y = a_y + r_1 / 128,   w = r_2 / 128,   h = r_3 / 128,   p = σ(clip(s, −100, 100))

then boxes with p ≥ ``score_threshold``, greedy NMS at ``nms_iou`` (MediaPipe blends overlapping boxes instead;
plain NMS keeps the best), undo the letterbox.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from ..compress.distill.mediapipe_selfie import INSTALL, VERSION, mediapipe_folder
from ..errors import ConfigError, cause_of
from ..ops.boxes import nms
from ..utils.text import one_line

FILE = "face_detection_short_range.tflite"
SIZE = 128
STRIDES = (8, 16, 16, 16)


def anchors() -> np.ndarray:
    """(896, 2) anchor centres (x, y) in [0, 1], in the model's output order."""
    out = []
    i = 0
    while i < len(STRIDES):
        j = i
        while j < len(STRIDES) and STRIDES[j] == STRIDES[i]:  # layers of one stride share a grid
            j += 1
        f = SIZE // STRIDES[i]
        ys, xs = np.meshgrid((np.arange(f) + 0.5) / f, (np.arange(f) + 0.5) / f, indexing="ij")
        cells = np.stack([xs.ravel(), ys.ravel()], 1)
        out.append(np.repeat(cells, 2 * (j - i), axis=0))
        i = j
    return np.concatenate(out).astype(np.float32)


def decode(reg: np.ndarray, logits: np.ndarray, anchor_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (N, 4) xyxy on the [0, 1] input square and scores (N,) from regressors (N, ≥ 4) and logits (N,)."""
    c = anchor_xy + reg[:, :2] / SIZE
    half = reg[:, 2:4] / SIZE / 2
    p = 1 / (1 + np.exp(-np.clip(logits.astype(np.float64), -100, 100)))
    return np.concatenate([c - half, c + half], 1), p


@lru_cache(maxsize=1)
def _interpreter():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise ConfigError(f"face detector blazeface runs on LiteRT (ai-edge-litert): {INSTALL}") from None
    path = mediapipe_folder("blazeface") / "modules" / "face_detection" / FILE
    if not path.is_file():
        raise ConfigError(f"face detector blazeface: {path} is missing (only mediapipe {VERSION} ships it): {INSTALL}")
    try:
        it = Interpreter(model_path=str(path), num_threads=1)
        it.allocate_tensors()
    except (ValueError, RuntimeError) as e:
        raise ConfigError(f"face detector blazeface: LiteRT cannot load {path} ({one_line(cause_of(e))[:160]}); "
                          f"reinstall it: {INSTALL}") from None
    return it


def letterbox(rgb: np.ndarray) -> tuple[np.ndarray, float, tuple[float, float]]:
    """(1, 128, 128, 3) float32 in [−1, 1], the scale and the (x, y) padding in 128² pixels."""
    h, w = rgb.shape[:2]
    s = SIZE / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    canvas = np.zeros((SIZE, SIZE, 3), np.float32)
    py, px = (SIZE - nh) // 2, (SIZE - nw) // 2
    canvas[py:py + nh, px:px + nw] = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA)
    return (canvas / 127.5 - 1)[None], s, (px, py)


def blazeface_boxes(image: np.ndarray, score_threshold: float = 0.5, nms_iou: float = 0.3) -> tuple[np.ndarray,
                                                                                                    np.ndarray]:
    """Face boxes (N, 4) float xyxy in ``image``'s pixels and their scores (N,), best first. ``image`` is uint8
    (H, W) grey or (H, W, 3) RGB."""
    rgb = np.repeat(image[..., None], 3, 2) if image.ndim == 2 else image[..., :3]
    x, s, (px, py) = letterbox(rgb)
    it = _interpreter()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    outs = {d["name"]: it.get_tensor(d["index"]) for d in it.get_output_details()}
    boxes, scores = decode(outs["regressors"][0], outs["classificators"][0, :, 0], _anchors())
    m = scores >= score_threshold
    boxes, scores = boxes[m], scores[m]
    keep = nms(boxes, scores, nms_iou)
    b = (boxes[keep] * SIZE - np.array([px, py, px, py])) / s
    h, w = image.shape[:2]
    b[:, 0::2], b[:, 1::2] = b[:, 0::2].clip(0, w), b[:, 1::2].clip(0, h)
    return b, scores[keep]


@lru_cache(maxsize=1)
def _anchors() -> np.ndarray:
    return anchors()
