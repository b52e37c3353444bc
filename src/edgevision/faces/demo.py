"""The ``demo`` pipeline of face models (Björgvinsdóttir & Seibold's (2016) door camera): Haar detection → crop → embed
→ gallery match, drawn as a box with the name (or "unknown") and the cosine score.

Registered for the ``face`` task in :data:`edgevision.apps.pipelines.PIPELINES`; ``edgevision demo FACE_MODEL
--source 0 --gallery faces.db``. Detection and embedding run in :func:`recognize_faces` (torch, one model load
per process), so the demo's engine option does not apply to face models.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

import numpy as np
from pydantic import ValidationError

from ..apps.pipelines import PIPELINES, Pipeline
from ..errors import ConfigError
from ..tasks.detection import draw_detections
from .detect import DetectorConfig
from .recognize import recognize_faces


@PIPELINES.register("face")
class FacePipeline(Pipeline):
    """One frame → ``{"faces": [{box, name, score}], "count"}``; "unknown" below the gallery's threshold."""

    def __init__(self, art: Any, engine: Any, options: dict[str, Any] | None = None) -> None:
        super().__init__(art, engine, options)
        self.gallery = self.options.get("gallery")
        opts = self.options.get("face_detector") or {}
        try:
            self.detector = DetectorConfig(**opts) if opts else None  # None: the options the model trained with
        except ValidationError as e:
            raise ConfigError(f"face_detector: {e.errors()[0]['loc'][0]}: {e.errors()[0]['msg']}") from None
        if not self.gallery:
            raise ConfigError("demo of a face model needs --gallery FACES.db (enroll people with "
                              "`edgevision faces enroll --db FACES.db --artifact MODEL --name NAME IMG...`)")

    def preprocess(self, frame: np.ndarray) -> np.ndarray:
        return frame  # the recognizer crops and normalizes each face itself

    def infer(self, x: np.ndarray) -> list[tuple[tuple[int, int, int, int], str, float]]:
        if x.ndim == 4:  # the warm-up's zero tensor (1, C, h, w): an empty frame of that size
            x = np.zeros((*x.shape[2:], 3), np.uint8)
        t0 = perf_counter()
        faces = recognize_faces(x, self.art.path, self.gallery, color="RGB", detector=self.detector)
        self.extra_ms["recognize"] = (perf_counter() - t0) * 1e3
        return faces

    def postprocess(self, raw: Any, frame: np.ndarray) -> dict[str, Any]:
        faces = [{"box": [float(v) for v in box], "name": name, "score": float(score)} for box, name, score in raw]
        return {"faces": faces, "count": len(faces)}

    def draw(self, frame: np.ndarray, pred: dict[str, Any]) -> np.ndarray:
        dets = [{"box": f["box"], "label": f["name"], "score": f["score"], "class_id": int(f["name"] == "unknown")}
                for f in pred["faces"]]
        return draw_detections(frame, dets)

    def describe(self, pred: dict[str, Any]) -> str:
        return f"{pred['count']} faces" + "".join(f", {f['name']} {f['score']:.2f}" for f in pred["faces"][:5])

    def row(self, pred: dict[str, Any]) -> dict[str, Any]:
        best = max(pred["faces"], key=lambda f: f["score"], default=None)
        return {"label": best["name"] if best else "", "score": round(best["score"], 5) if best else "",
                "count": pred["count"], "description": self.describe(pred)}
