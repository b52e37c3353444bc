"""dlib's ResNet face embedder (King 2017, dlib 19.6 "face recognition model v1"), as a teacher and an embedder.

The ``[teachers]`` extra brings ``dlib-bin`` (a prebuilt dlib) and ``face-recognition-models`` (the model files,
CC0). Only three of its files are used: the HOG face detector (built into dlib; Dalal & Triggs 2005 features +
a linear SVM), the **5-point** landmark model (two corners of each eye and the base of the nose) and the ResNet
embedding model. The 68-point landmark model in the same package is never loaded: its training data forbids
commercial use.

The pipeline is dlib's own (``face_recognition.face_encodings``): detect a face box → 5 landmarks →
``get_face_chip`` (the similarity transform that puts the landmarks where the model expects them, 150×150 RGB,
padding 0.25) → a 128-d descriptor. Descriptors of one person lie within Euclidean distance 0.6 of each other
(dlib's rule, 99.38 % on LFW pairs); edgevision L2-normalizes them and compares by cosine, like its own embedders.

As a *teacher* (``--teacher dlib-face``) it sees the student's batch (images that are already face crops): the
landmarks are found inside a centred box of ``teacher_options.face_box`` × the image side, and the descriptor is
the target of the student's embedding (:mod:`.embedding`).
"""

from __future__ import annotations

import hashlib
import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...configs.distill import TeacherOptions
from ...data.base import SampleDataset
from ...errors import EdgevisionError
from .teacher import Teacher

NAME = "dlib-face"
INSTALL = 'pip install "edgevision[teachers]" (in a checkout: pip install -e ".[teachers]")'
LICENSE = "CC0-1.0 (dlib face recognition and 5-point landmark models, Davis King); dlib: BSL-1.0"
FILES = {"landmarks": "shape_predictor_5_face_landmarks.dat", "resnet": "dlib_face_recognition_resnet_model_v1.dat"}
DIM, CHIP, PADDING = 128, 150, 0.25
# cosine thresholds at a false-accept rate, measured by benchmarks/face_embedding.py (results/face_embedding.json,
# rows.dlib-face.threshold, rounded): the impostor scores of LFW peopleDevTest probes against the other people's
# enrolment images (80 people, 3 enrolment images each)
CALIBRATION: dict[str, Any] | None = {"far": 0.01, "threshold": 0.9055, "source": "LFW peopleDevTest impostors"}


def _models_dir() -> Path:
    """The folder of face-recognition-models' files (found without importing it: it imports pkg_resources)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise EdgevisionError(f"{NAME} needs the face-recognition-models package: {INSTALL}")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def _dlib() -> Any:
    try:
        import dlib
    except ImportError:
        raise EdgevisionError(f"{NAME} needs dlib (the dlib-bin wheel): {INSTALL}") from None
    return dlib


def available() -> bool:
    """Whether the ``[teachers]`` extra is installed (both packages importable; nothing is loaded)."""
    return importlib.util.find_spec("dlib") is not None and importlib.util.find_spec("face_recognition_models") \
        is not None


class DlibFace:
    """The three dlib models, loaded once: ``detect(rgb)``, ``chips(rgb, boxes)``, ``embed(chips)``."""

    def __init__(self) -> None:
        dlib, root = _dlib(), _models_dir()
        paths = {k: root / f for k, f in FILES.items()}
        missing = [str(p) for p in paths.values() if not p.is_file()]
        if missing:
            raise EdgevisionError(f"{NAME}: model file {missing[0]} is missing (reinstall: {INSTALL})")
        self.dlib, self.paths = dlib, paths
        self.detector = dlib.get_frontal_face_detector()
        self.landmarks = dlib.shape_predictor(str(paths["landmarks"]))
        self.resnet = dlib.face_recognition_model_v1(str(paths["resnet"]))
        h = hashlib.sha256()
        for p in paths.values():
            h.update(p.read_bytes())
        self.id = h.hexdigest()[:16]
        self.size_bytes = sum(p.stat().st_size for p in paths.values())

    def detect(self, rgb: np.ndarray, upsample: int = 1) -> np.ndarray:
        """Face boxes (N, 4) int xyxy of dlib's HOG detector, largest first; (0, 4) when there is none."""
        rects = self.detector(np.ascontiguousarray(rgb), upsample)
        b = np.array([[r.left(), r.top(), r.right(), r.bottom()] for r in rects], np.int64).reshape(-1, 4)
        b[:, 0::2], b[:, 1::2] = b[:, 0::2].clip(0, rgb.shape[1]), b[:, 1::2].clip(0, rgb.shape[0])
        return b[np.argsort(-(b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]), kind="stable")]

    def chips(self, rgb: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Aligned 150×150 RGB chips (N, 150, 150, 3) uint8: 5 landmarks per box → dlib's similarity warp."""
        img = np.ascontiguousarray(rgb)
        out = np.zeros((len(boxes), CHIP, CHIP, 3), np.uint8)
        for i, (x0, y0, x1, y1) in enumerate(np.asarray(boxes).reshape(-1, 4)):  # a handful of faces per image
            shape = self.landmarks(img, self.dlib.rectangle(int(x0), int(y0), int(x1), int(y1)))
            out[i] = self.dlib.get_face_chip(img, shape, size=CHIP, padding=PADDING)
        return out

    def embed(self, chips: np.ndarray) -> np.ndarray:
        """L2-normalized descriptors (N, 128) float32 of aligned chips (N, 150, 150, 3) uint8."""
        if len(chips) == 0:
            return np.zeros((0, DIM), np.float32)
        d = np.asarray(self.resnet.compute_face_descriptor([np.ascontiguousarray(c) for c in chips]), np.float32)
        return d / np.linalg.norm(d, axis=1, keepdims=True).clip(min=1e-12)


@lru_cache(maxsize=1)
def dlib_face() -> DlibFace:
    """The process-wide :class:`DlibFace` (its files are read once)."""
    return DlibFace()


def centred_box(h: int, w: int, fraction: float) -> np.ndarray:
    """The centred square box (1, 4) xyxy whose side is ``fraction`` of the image's shorter side."""
    side = fraction * min(h, w)
    x0, y0 = (w - side) / 2, (h - side) / 2
    return np.array([[x0, y0, x0 + side, y0 + side]]).round().astype(np.int64)


class DlibFaceTeacher(Teacher):
    """``logits(x01)`` = dlib's normalized 128-d descriptors (B, 128) of face crops (B, C, H, W) in [0, 1]."""

    kind = "embedding"
    embedding_dim = DIM
    license = LICENSE

    def __init__(self, opt: TeacherOptions) -> None:
        self.name, self.opt, self.model = NAME, opt, dlib_face()

    def prepare(self, train: SampleDataset, class_names: list[str]) -> None:
        """Nothing to fit; the labels (if any) are the student's business."""

    def chips(self, x01: torch.Tensor) -> np.ndarray:
        x = (x01.detach().float().clamp(0, 1) * 255).round().to(torch.uint8)
        x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        imgs = np.ascontiguousarray(x.permute(0, 2, 3, 1).numpy())  # (B, H, W, 3) RGB
        box = centred_box(imgs.shape[1], imgs.shape[2], self.opt.face_box)
        return np.concatenate([self.model.chips(im, box) for im in imgs]) if len(imgs) else np.zeros((0, CHIP,
                                                                                                     CHIP, 3))

    def logits(self, x01: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.model.embed(self.chips(x01)))

    def fingerprint(self) -> str:
        return f"dlib-face:{self.model.id}:{self.model.dlib.__version__}:face_box={self.opt.face_box}"

    def size_bytes(self) -> int:
        return self.model.size_bytes

    def info(self) -> dict[str, Any]:
        return {**super().info(), "dim": DIM, "dlib": self.model.dlib.__version__, "model_id": self.model.id,
                "license": LICENSE, "face_box": self.opt.face_box}
