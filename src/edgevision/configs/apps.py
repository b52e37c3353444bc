"""The application stages: ``predict`` and ``demo``."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from .foreign import ForeignOnnxOptions
from .train import ARTIFACT_HELP, THREADS_HELP
from .verb import Verb


class PredictConfig(ForeignOnnxOptions):
    """``edgevision predict``: an artifact and the images to run it on."""

    cli: ClassVar[Verb] = Verb(
        "predict", "edgevision:predict", "run an artifact on images; writes predictions.jsonl and drawings",
        examples=("edgevision predict runs/t photos/ --out runs/pred",), args=("artifact", "inputs"),
        json="edgevision.apps.predict:read_predictions")

    model_config = ConfigDict(extra="forbid", frozen=True)
    artifact: str = Field(..., description=ARTIFACT_HELP)
    inputs: list[str] = Field(..., min_length=1, description="image files and/or folders of images")
    batch_size: int = Field(32, ge=1, description="images per forward pass")
    draw: bool = Field(True, description="also write each image with its predictions drawn (<name>.png)")
    threads: int | None = Field(None, ge=1, le=256, description=THREADS_HELP)


class DemoConfig(BaseModel):
    """``edgevision demo``: an artifact, a source, an engine, and where the results go."""

    cli: ClassVar[Verb] = Verb(
        "demo", "edgevision:demo",
        "live demo of any artifact (.pt/.evz/.onnx, every task) on a camera, video file, stream or image folder: "
        "overlays, fps and per-stage times; --headless writes an annotated video and per-frame JSON lines (annotated "
        "images and predictions.csv for a folder of images)",
        examples=("edgevision demo runs/t --source clip.mp4 --headless --out runs/demo",), args=("artifact",),
        out=False, json="metrics")

    model_config = ConfigDict(extra="forbid", frozen=True)
    artifact: str = Field(..., description=ARTIFACT_HELP)
    source: str = Field(..., description="camera index (0), video file, folder of images, or rtsp:// URL")
    engine: Literal["auto", "torch", "onnxruntime", "cv2", "openvino", "litert", "executorch", "ncnn"] = Field(
        "auto", description="inference engine (cv2 = cv2.dnn; openvino, litert, executorch and ncnn need their "
        "extras); auto = torch for .pt/.evz, onnxruntime for .onnx, openvino for .xml, litert for .tflite, "
        "executorch for .pte, ncnn for .param")
    threads: int = Field(1, ge=1, le=256, description="torch/onnxruntime/OpenCV inference threads (default 1: a "
                         "steady frame rate beside the capture thread)")
    headless: bool = Field(False, description="no window; write files instead")
    out: str | None = Field(None, description="annotated video (.mp4/.avi/.mkv) or output folder")
    jsonl: str | None = Field(None, description="one JSON line per frame; default: <out folder>/results.jsonl for a "
                              "camera, video or stream written to a folder; a folder of images writes "
                              "predictions.csv instead, and JSON lines only when --jsonl is given")
    realtime: bool = Field(False, description="video files behave like a camera: drop frames to keep up")
    max_frames: int = Field(0, ge=0, description="stop after this many frames (0: until the stream ends)")
    hud: bool = Field(True, description="draw fps and per-stage times on the frames")
    gallery: str | None = Field(None, description="face models: the SQLite gallery of `edgevision faces enroll`")
    face_detector: dict[str, Any] = Field(default_factory=dict, description="face models: Haar options "
                                          "(cascade, scale_factor, min_neighbors, min_size, detect_width, margin)")
