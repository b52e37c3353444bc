"""Per-task demo pipelines: preprocess → infer → postprocess → draw, one frame at a time.

:data:`PIPELINES` maps a task name (the artifact's ``task["name"]``) to a :class:`Pipeline` subclass. The base
class already runs any registered :class:`~edgevision.tasks.base.Task` through its own ``decode`` and ``draw``
(the code ``edgevision predict`` uses), so a task needs an entry only to change a step. A new task plugs in
with::

    @PIPELINES.register("faces")
    class FacePipeline(Pipeline):
        def postprocess(self, raw, frame):           # e.g. NMS, then crop + embed + match each face
            t0 = time.perf_counter()
            ...
            self.extra_ms["recognize"] = (time.perf_counter() - t0) * 1000   # shown and summarized too
            return {"faces": [...], "count": n}
        def draw(self, frame, pred): ...             # box, name or "unknown", score
        def row(self, pred): ...                     # the CSV columns of folder mode

Pipelines work on RGB uint8 frames (H, W, 3) of any size; ``infer`` calls the engine
(:mod:`edgevision.apps.engines`), so torch, onnxruntime and cv2.dnn share every other step.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ..artifacts import Artifact
from ..registry import Registry
from ..tasks import build_task
from .engines import Engine
from .predict import decode_options, preprocess_array

PIPELINES: Registry = Registry("demo pipeline", builtins=("edgevision.apps", "edgevision.faces"), plural="pipelines")


class Pipeline:
    """The generic pipeline: the artifact's preprocessing, the engine, and the task's ``decode``/``draw``."""

    def __init__(self, art: Artifact, engine: Engine, options: dict[str, Any] | None = None) -> None:
        self.art, self.engine = art, engine
        self.options = options or {}  # task-specific demo options (e.g. the faces gallery)
        self.task = build_task(art.task)
        self.extra_ms: dict[str, float] = {}  # sub-stage times a step measured itself (e.g. "recognize")

    def preprocess(self, frame: np.ndarray) -> np.ndarray:
        """RGB frame (H, W, 3) → normalized model input (1, C, h, w) float32."""
        return preprocess_array([frame], self.art.preprocess)

    def infer(self, x: np.ndarray) -> Any:
        return self.engine.run(x)

    def postprocess(self, raw: Any, frame: np.ndarray) -> dict[str, Any]:
        """Raw output of one frame → a JSON-able prediction in the frame's pixels."""
        return self.task.decode(raw, **decode_options(self.task, self.art.preprocess, [frame.shape[:2]]))[0]

    def draw(self, frame: np.ndarray, pred: dict[str, Any]) -> np.ndarray:
        return self.task.draw(frame, pred)

    def describe(self, pred: dict[str, Any]) -> str:
        return self.task.describe(pred)

    def row(self, pred: dict[str, Any]) -> dict[str, Any]:
        """Flat CSV columns for folder mode (label, score, count, plus a one-line description)."""
        return {"label": pred.get("label", ""), "score": _round(pred.get("score")), "count": pred.get("count", ""),
                "description": self.describe(pred)}


def _round(v: Any) -> Any:
    return round(float(v), 5) if isinstance(v, int | float) else ""


@PIPELINES.register("detection")
class DetectionPipeline(Pipeline):
    """Boxes with class and score; the CSV lists every detection as ``label:score@x1,y1,x2,y2``."""

    def row(self, pred: dict[str, Any]) -> dict[str, Any]:
        dets = pred["detections"]
        best = max(dets, key=lambda d: d["score"], default=None)
        return {"label": best["label"] if best else "", "score": _round(best["score"]) if best else "",
                "count": pred["count"], "description": ";".join(
                    f"{d['label']}:{d['score']:.3f}@{','.join(f'{v:.0f}' for v in d['box'])}" for d in dets)}


@PIPELINES.register("localization")
class LocalizationPipeline(Pipeline):
    """One box with class and score."""

    def row(self, pred: dict[str, Any]) -> dict[str, Any]:
        return {**super().row(pred), "count": 1, "description": ",".join(f"{v:.0f}" for v in pred["box"])}


@PIPELINES.register("segmentation")
class SegmentationPipeline(Pipeline):
    """A translucent mask. The label map is decoded at the model's resolution and the overlay resizes it
    (nearest) to the frame: bilinear upsampling of C logit planes to a 640×480 frame would cost more than the
    network. The JSON ``mask`` (RLE) is therefore at the model input size (its ``size`` says so)."""

    def postprocess(self, raw: Any, frame: np.ndarray) -> dict[str, Any]:
        return self.task.decode(raw)[0]

    def row(self, pred: dict[str, Any]) -> dict[str, Any]:
        return {**super().row(pred), "count": len(pred["areas"]), "description": json.dumps(pred["areas"])}


def pipeline_for(art: Artifact, engine: Engine, options: dict[str, Any] | None = None) -> Pipeline:
    """The registered pipeline of the artifact's task, else the generic one (any task with decode + draw)."""
    name = str(art.task.get("name", ""))
    cls = PIPELINES.get(name) if name in PIPELINES else Pipeline
    return cls(art, engine, options)


PIPELINES.register("classification", Pipeline)
