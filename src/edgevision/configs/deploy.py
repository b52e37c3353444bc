"""The deployment stages: ``export`` and ``quantize``."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from .compress import FinetuneConfig
from .data import DataConfig
from .verb import Verb

OPSET = 17  # the lowest ONNX opset every engine here runs (LayerNormalization, QDQ per channel)

class ExportConfig(BaseModel):
    """``edgevision export``: an artifact, a format, and precision variants."""

    cli: ClassVar[Verb] = Verb(
        "export", "edgevision:export",
        "export to ONNX (opset ≥ 17, dynamic batch, self-describing metadata) with fp16/bf16/int8 variants; every "
        "file is parity-checked in onnxruntime and cv2.dnn",
        examples=("edgevision export runs/t --format onnx --int8 --fp16 --out runs/t-export",), args=("artifact",),
        aliases=(("--data", "data.source"), ("--static-batch", "!dynamic_batch")))

    model_config = ConfigDict(extra="forbid", frozen=True)
    artifact: str = Field(..., description="model file or run folder")
    format: str = Field("onnx", description="a format of the export table (onnx, pt, ...)")
    int8: bool = Field(False, description="also write an int8 (QDQ, static, calibrated) file")
    fp16: bool = Field(False, description="also write a file with fp16 weight storage")
    bf16: bool = Field(False, description="also write a file with bf16 weight storage")
    opset: int = Field(OPSET, ge=17, le=21)
    dynamic_batch: bool = True
    calibration: Literal["minmax", "entropy", "percentile"] = "minmax"
    calib_samples: int = Field(256, ge=1, le=100_000, description="train samples for int8 calibration")
    holdout: int = Field(512, ge=8, le=100_000, description="val samples for the parity checks")
    per_channel: bool = True
    exclude: list[str] = Field(default_factory=list, description="layers (globs) kept in float in the int8 file")
    stem: Literal["auto", "int8", "float"] = Field(
        "auto", description="int8: keep a narrow-input stem conv in float (auto = when measured faster)")
    tolerance: float = Field(1e-4, gt=0, description="fp32 max abs error allowed")
    min_agreement: float = Field(0.99, ge=0, le=1, description="int8 top-1 agreement required")
    cv2: Literal["check", "require", "off"] = Field("check", description="run the files in cv2.dnn too")
    data: DataConfig | None = None


class QuantizeConfig(FinetuneConfig):
    """``edgevision quantize``: precision and int8 options (the training options apply to QAT)."""

    cli: ClassVar[Verb] = Verb(
        "quantize", "edgevision:quantize",
        "int8 (static PTQ in onnxruntime, calibration comparison, sensitivity exclusion, QAT) or fp16/bf16 weight "
        "storage; reports accuracy and speed against fp32 on the same engine",
        examples=("edgevision quantize runs/t --calibration best --tolerance 1 --qat auto --out runs/t-int8",),
        args=("artifact",), aliases=(("--per-tensor", "!per_channel"),))

    artifact: str = Field(..., description="model file or run folder (a float model)")
    precision: Literal["int8", "fp16", "bf16"] = "int8"
    calibration: Literal["minmax", "entropy", "percentile", "best"] = "minmax"
    calib_samples: int = Field(256, ge=1, le=100_000, description="train samples for calibration")
    percentile: float = Field(99.999, gt=90, lt=100)
    per_channel: bool = True
    exclude: list[str] = Field(default_factory=list, description="layer paths (globs) kept in float")
    tolerance: float = Field(1.0, ge=0, description="allowed drop of the primary metric, in points")
    auto_exclude: bool = Field(True, description="keep the most sensitive layers in float when over tolerance")
    max_exclude: int = Field(3, ge=0, le=64)
    qat: Literal["auto", "on", "off"] = Field("auto", description="auto: only if still over tolerance")
    epochs: int = Field(2, ge=0, le=100_000, description="QAT epochs")
    lr: float = Field(1e-3, gt=0, le=10, description="QAT learning rate")
    threads: int = Field(1, ge=1, le=256, description="threads of the fp32-vs-int8 latency comparison")
    budget_s: float = Field(1.0, gt=0, le=60)
    stem: Literal["auto", "int8", "float"] = Field(
        "auto", description="keep a narrow-input stem conv in float: auto = when measured faster")
