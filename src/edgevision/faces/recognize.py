"""Face embeddings from an artifact, and the per-frame pipeline: detect → crop → embed → match the gallery.

:class:`FaceRecognizer` loads an artifact once (``.pt`` or ``.evz``; a ``face_cnn`` or any model whose
``forward_features`` returns a vector) and applies its saved preprocessing: the same input size, mean/std, and
— when the model was trained on Haar crops — the same detector, margin and alignment. :func:`recognize_faces`
is the one-call API for applications (the ``demo`` verb): a frame in, ``[(box, name or "unknown", score)]`` out.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from .. import shipped
from ..artifacts import load_artifact
from ..compress.distill.dlib_face import NAME as DLIB
from ..config import validate
from ..data.imageio import read_image
from ..errors import ArtifactError, DataError
from ..models.contract import features
from .detect import DetectorConfig, crop_faces, detect_faces, to_gray
from .dlib import DlibRecognizer, to_rgb
from .gallery import Gallery, match

UNKNOWN = "unknown"
DEFAULT_THRESHOLD = 0.5
SHIPPED = "face-embedder"  # the shipped embedder (benchmarks/face_embedding.py --ship): the verbs' default
Box = tuple[int, int, int, int]


def model_id(model: torch.nn.Module) -> str:
    """A 16-hex-digit hash of the model's weights: galleries refuse embeddings from any other model."""
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().float().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


class FaceRecognizer:
    """An artifact ready to embed faces: ``embed(crops)``, ``faces(frame)``, ``open_gallery(db)``."""

    def __init__(self, artifact: str | Path, detector: DetectorConfig | None = None, ref: str | None = None) -> None:
        art = load_artifact(artifact)
        self.ref = ref  # a shipped model's name: what a gallery records (the file moves with the install)
        if not any(True for _ in art.model.parameters()):
            raise ArtifactError(f"{art.path}: face embeddings need a torch artifact (.pt/.evz), not an exported file")
        self.path, self.model = art.path, art.model.eval()
        self.name = art.arch.name
        self.channels, self.size = art.input_shape[0], art.input_shape[1:]
        self.mean = torch.tensor(art.preprocess["mean"], dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(art.preprocess["std"], dtype=torch.float32).view(1, -1, 1, 1)
        opts = (art.meta.get("data") or {}).get("options") or {}
        self.trained_on_crops = opts.get("crop") == "haar"
        framing = {**(opts.get("detector") or {}), **((art.card or {}).get("face_detector") or {})}
        own = {k: v for k, v in framing.items() if k in ("cascade", "margin", "align")}
        given = detector.model_dump(include=detector.model_fields_set) if detector is not None else {}
        self.detector = DetectorConfig(**{**own, **given})  # the flags a user set, over the model's framing
        self.id = model_id(self.model)
        cal = (art.card or {}).get("face_calibration") or art.meta.get("face_calibration")
        self.calibration: dict[str, Any] | None = cal if isinstance(cal, dict) and "threshold" in cal else None
        with torch.inference_mode():
            self.dim = int(features(self.model, torch.zeros(1, self.channels, *self.size)).flatten(1).shape[1])

    def embed(self, crops: np.ndarray) -> np.ndarray:
        """L2-normalized embeddings (N, D) float32 of uint8 crops at the model's input size: grey (N, H, W) or, for
        a colour model, RGB (N, H, W, 3)."""
        if len(crops) == 0:
            return np.zeros((0, self.dim), np.float32)
        x = torch.from_numpy(np.ascontiguousarray(crops))
        x = (x[:, None] if x.ndim == 3 else x.permute(0, 3, 1, 2)).float().div_(255)
        x = x.expand(-1, self.channels, -1, -1) if x.shape[1] == 1 else x
        with torch.inference_mode():
            f = features(self.model, (x - self.mean) / self.std).flatten(1)
        return F.normalize(f.float(), dim=1).numpy()

    def faces(self, image: np.ndarray, color: Literal["RGB", "BGR"] = "BGR", detect: bool = True
              ) -> tuple[np.ndarray, np.ndarray]:
        """``(boxes (N, 4) xyxy, crops)``: grey (N, H, W), or RGB (N, H, W, 3) for a colour model (Haar sees grey,
        BlazeFace colour); ``detect=False`` takes the whole image as one face."""
        gray = to_gray(image, color)
        colour = image.ndim == 3 and image.shape[2] == 3
        seen = to_rgb(image, color) if colour and self.detector.detector == "blazeface" else gray  # a colour model
        boxes = detect_faces(seen, self.detector) if detect else np.array([[0, 0, gray.shape[1], gray.shape[0]]])
        cfg = self.detector if detect else self.detector.model_copy(update={"margin": 0.0, "align": False})
        src = gray if self.channels == 1 or image.ndim == 2 or image.shape[2] == 1 else to_rgb(image, color)
        return boxes, crop_faces(src, boxes, self.size, cfg)

    def open_gallery(self, db: str | Path, create: bool = True) -> Gallery:
        g = Gallery(db, self.id, self.dim, self.name, create=create)
        if create and "artifact" not in g.meta():
            g.set_meta("artifact", self.ref or str(Path(self.path).resolve()))
        return g


def default_threshold(rec: Any) -> tuple[float, str]:
    """The embedder's calibrated threshold and what it means, else :data:`DEFAULT_THRESHOLD` (uncalibrated)."""
    cal = getattr(rec, "calibration", None)
    if cal:
        return float(cal["threshold"]), f"FAR {float(cal['far']):g} on {cal.get('source', 'held-out impostors')}"
    return DEFAULT_THRESHOLD, "uncalibrated default (choose one with `edgevision faces eval`)"


@lru_cache(maxsize=8)
def _cached(path: str, mtime: float, detector: str | None, ref: str | None = None) -> FaceRecognizer:
    return FaceRecognizer(path, DetectorConfig.model_validate_json(detector) if detector else None, ref)


@lru_cache(maxsize=1)
def _dlib() -> DlibRecognizer:
    return DlibRecognizer()


def recognizer(artifact: str | Path, detector: DetectorConfig | dict[str, Any] | None = None
               ) -> FaceRecognizer | DlibRecognizer:
    """A process-wide cached :class:`FaceRecognizer` (reloaded when the file changes), or dlib's pipeline for the
    name ``dlib-face`` (its own HOG detector: Haar options do not apply); a shipped model's name (e.g.
    ``face-embedder``) opens its packaged file; ``detector`` may be the options as a mapping (``--detector.*``
    flags), checked by :class:`DetectorConfig`."""
    if str(artifact) == DLIB:
        return _dlib()
    if isinstance(detector, dict):
        detector = validate(DetectorConfig, detector, prefix="detector")
    p, ref = Path(artifact), None
    if not p.exists() and shipped.looks_like_name(str(artifact)):
        p, ref = shipped.require(str(artifact)), str(artifact)
    return _cached(str(p.resolve()), p.stat().st_mtime if p.exists() else 0.0,
                   detector.model_dump_json() if detector else None, ref)


@dataclass
class LoadedGallery:
    names: list[str]
    embeddings: np.ndarray
    threshold: float


@lru_cache(maxsize=4)
def _gallery_cached(db: str, mtime: float, model: str, rec_id: str) -> LoadedGallery:
    rec = recognizer(model)
    with rec.open_gallery(db, create=False) as g:
        names, emb = g.load()
        return LoadedGallery(names, emb, float(g.meta().get("threshold", DEFAULT_THRESHOLD)))


def load_gallery(db: str | Path, artifact: str | Path) -> LoadedGallery:
    """Names, embeddings and threshold of a gallery (checked against ``artifact``), cached until the file changes."""
    p = Path(db)
    if not p.is_file():
        raise DataError(f"gallery {p}: no such file (enroll someone first)")
    return _gallery_cached(str(p.resolve()), p.stat().st_mtime, str(artifact), recognizer(artifact).id)


def recognize_faces(frame: np.ndarray, artifact: str | Path, gallery: str | Path, *,
                    color: Literal["RGB", "BGR"] = "BGR", threshold: float | None = None,
                    detector: DetectorConfig | None = None) -> list[tuple[Box, str, float]]:
    """Detect and identify every face in a frame.

    Args:
        frame: uint8 image (H, W, 3) in ``color`` order, or grey (H, W).
        artifact: face model (``.pt``/``.evz`` or run folder); loaded once and cached.
        gallery: SQLite gallery enrolled with the same model (checked by model id).
        color: channel order of ``frame`` (OpenCV captures are BGR).
        threshold: accept the best match when cosine ≥ threshold (default: the gallery's, chosen on validation).
        detector: Haar options (default: the cascade/margin/alignment the model was trained with, and
            ``DetectorConfig`` defaults: frames downscaled to 240 px wide, faces ≥ 60 px).

    Returns:
        ``[((x0, y0, x1, y1), name or "unknown", cosine score)]``, largest face first; [] when no face.
    """
    rec = recognizer(artifact, detector)
    gal = load_gallery(gallery, artifact)
    boxes, crops = rec.faces(frame, color)
    tau = gal.threshold if threshold is None else threshold
    out: list[tuple[Box, str, float]] = []
    for box, ranked in zip(boxes, match(rec.embed(crops), gal.names, gal.embeddings, k=1)):
        name, score = ranked[0] if ranked else (UNKNOWN, -1.0)
        out.append((tuple(int(v) for v in box), name if score >= tau else UNKNOWN, float(score)))
    return out


def embed_files(rec: FaceRecognizer, files: list[str | Path], detect: bool = True
                ) -> tuple[np.ndarray, list[str], list[dict[str, Any]]]:
    """Embed the largest face of each image file: (embeddings (M, D), files used, problems [{file, reason}])."""
    crops, used, problems = [], [], []
    for f in files:
        img = read_image(f, 3)
        if img is None:
            problems.append({"file": str(f), "reason": "not a readable image"})
            continue
        boxes, c = rec.faces(img, "RGB", detect)
        if not len(boxes):
            problems.append({"file": str(f), "reason": "no face found"})
            continue
        crops.append(c[0])
        used.append(str(f))
    emb = rec.embed(np.stack(crops)) if crops else np.zeros((0, rec.dim), np.float32)
    return emb, used, problems
