"""Run an exported detector (``.onnx`` + sidecar ``.json``) with onnxruntime or OpenCV's ``cv2.dnn``, without torch.

    det = OnnxDetector("model.onnx", engine="cv2")
    detections = det(rgb_images)        # per image: boxes (N, 4) in its own pixels, scores (N,), labels (N,)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from ..errors import ArtifactError
from ..ops.letterbox import LETTERBOX_PAD, fit, fit_image
from ..ops.points import decode_points
from ..ops.postprocess import PostprocessConfig, decode_raw, postprocess
from .onnx import ort_session


class OnnxDetector:
    """An exported detector: preprocessing, the ONNX graph, and NumPy post-processing."""

    def __init__(self, path: str | Path, engine: Literal["onnxruntime", "cv2"] = "onnxruntime",
                 threads: int | None = 1, score_threshold: float | None = None) -> None:
        self.path = Path(path)
        side = self.path.with_suffix(".json")
        try:
            self.meta: dict[str, Any] = json.loads(side.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise ArtifactError(f"{side}: missing or unreadable detector sidecar ({e})") from None
        pre = self.meta["preprocess"]
        self.input_hw = (int(pre["input_size"][0]), int(pre["input_size"][1]))
        self.mean = np.asarray(pre["mean"], np.float32)
        self.std = np.asarray(pre["std"], np.float32)
        self.resize, self.pad = str(pre.get("resize", "stretch")), int(pre.get("pad", LETTERBOX_PAD))
        self.anchors = np.asarray(self.meta["anchors"], np.float32)
        p = self.meta["postprocess"]
        self.post = PostprocessConfig(int(p["top_n"]), float(p["nms_iou"]),
                                      float(p["score_threshold"] if score_threshold is None else score_threshold))
        self.engine = engine
        if threads:
            cv2.setNumThreads(threads)  # OpenCV's own pool would compete with the inference threads
        self._run = self._ort(threads) if engine == "onnxruntime" else self._cv2(threads)

    def _ort(self, threads: int | None) -> Callable[[np.ndarray], np.ndarray]:

        sess = ort_session(self.path, threads)
        inp = sess.get_inputs()[0]
        if inp.shape[0] == 1:  # exported with a fixed batch of 1
            return lambda x: np.concatenate([sess.run(None, {inp.name: x[i:i + 1]})[0] for i in range(len(x))])
        return lambda x: sess.run(None, {inp.name: x})[0]

    def _cv2(self, threads: int | None) -> Callable[[np.ndarray], np.ndarray]:
        net = cv2.dnn.readNetFromONNX(str(self.path))

        def run(x: np.ndarray) -> np.ndarray:
            outs = []
            for i in range(len(x)):  # the graph may have a fixed batch of 1
                net.setInput(x[i:i + 1])
                outs.append(net.forward())
            return np.concatenate(outs)

        return run

    def preprocess(self, images: list[np.ndarray]) -> np.ndarray:
        """RGB uint8 (H, W, 3) images → normalized (B, 3, h, w) float32 at the model's input size (stretched or
        letterboxed, as the sidecar's ``resize`` says)."""
        x = np.stack([fit_image(im, self.input_hw, self.resize, pad=self.pad) for im in images])
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32)  # NCHW first: long inner loops below
        x *= (1 / (255 * self.std))[None, :, None, None]  # (x/255 − mean)/std as one multiply-add per pixel
        x -= (self.mean / self.std)[None, :, None, None]
        return x

    def raw(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self._run(x), np.float32)

    def decode(self, out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Graph output → boxes (B, A, 4) and scores (B, A, C) in input pixels."""
        if self.meta["decode"] == "graph":
            return out[..., :4], out[..., 4:]
        if self.meta.get("head") == "points":
            return decode_points(out, self.input_hw, self.meta["strides"], int(self.meta["reg_max"]))
        return decode_raw(out, self.anchors, self.input_hw)

    def __call__(self, images: list[np.ndarray]) -> list[dict[str, np.ndarray]]:
        boxes, scores = self.decode(self.raw(self.preprocess(images)))
        dets = postprocess(boxes, scores, self.post)
        for d, im in zip(dets, images):  # input pixels → the image's own (undoing the stretch or letterbox)
            d["boxes"] = fit(im.shape[:2], self.input_hw, self.resize).to_image(d["boxes"])
        return dets
