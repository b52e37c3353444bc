"""The deployment stages: ``export`` and ``quantize``."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from .compress import FinetuneConfig
from .data import DataConfig
from .train import THREADS_HELP
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
    format: str = Field("onnx", description="export format (`edgevision list exporters`): onnx, or pt (16-bit "
                        "weight storage with --fp16/--bf16)")
    int8: bool = Field(False, description="also write an int8 (QDQ, static, calibrated) file")
    fp16: bool = Field(False, description="also write a file with fp16 weight storage")
    bf16: bool = Field(False, description="also write a file with bf16 weight storage")
    opset: int = Field(OPSET, ge=17, le=21, description="ONNX opset version of the exported graph")
    dynamic_batch: bool = Field(True, description="symbolic batch dimension (off, --static-batch: fixed at 1)")
    calibration: Literal["minmax", "entropy", "percentile"] = Field(
        "minmax", description="int8 activation-range calibration in onnxruntime (percentile: at the 99.999th)")
    calib_samples: int = Field(256, ge=1, le=100_000, description="first train samples used for int8 calibration")
    holdout: int = Field(512, ge=8, le=100_000, description="first val (else test) samples for the parity checks "
                         "(8 random inputs when the data is unknown)")
    per_channel: bool = Field(True, description="int8 weight scales per output channel (off: per tensor)")
    exclude: list[str] = Field(default_factory=list, description="layers (globs) kept in float in the int8 file")
    stem: Literal["auto", "int8", "float"] = Field(
        "auto", description="int8: keep a narrow-input stem conv in float (auto = when measured faster)")
    tolerance: float = Field(1e-4, gt=0, description="max |file − torch| allowed for fp32 files (and for pt files "
                             "against their rounded weights)")
    min_agreement: float = Field(0.99, ge=0, le=1, description="top-1 agreement with torch required of the "
                                 "fp16/bf16/int8 .onnx files (per position for maps)")
    cv2: Literal["check", "require", "off"] = Field(
        "check", description="run every .onnx in cv2.dnn too: check = failures are warnings, require = errors, off = "
        "skip")
    data: DataConfig | None = Field(None, description="data for calibration and parity checks (default: the data "
                                    "the artifact was trained on)")
    threads: int | None = Field(None, ge=1, le=256, description=THREADS_HELP)


class QuantizeConfig(FinetuneConfig):
    """``edgevision quantize``: precision and int8 options (the training options apply to QAT)."""

    cli: ClassVar[Verb] = Verb(
        "quantize", "edgevision:quantize",
        "int8 (static PTQ in onnxruntime, calibration comparison, sensitivity exclusion, QAT) or fp16/bf16 weight "
        "storage; reports accuracy and speed against fp32 on the same engine",
        examples=("edgevision quantize runs/t --calibration best --tolerance 1 --qat auto --out runs/t-int8",),
        args=("artifact",), aliases=(("--per-tensor", "!per_channel"),))

    artifact: str = Field(..., description="model file or run folder (a float model)")
    precision: Literal["int8", "fp16", "bf16"] = Field(
        "int8", description="int8: static PTQ in onnxruntime (model.int8.onnx); fp16/bf16: 16-bit weight storage "
        "in a .pt, compute stays fp32")
    calibration: Literal["minmax", "entropy", "percentile", "best"] = Field(
        "minmax", description="int8 activation-range calibration; best = try all three, keep the best on val")
    calib_samples: int = Field(256, ge=1, le=100_000, description="first train samples used for calibration")
    percentile: float = Field(99.999, gt=90, lt=100, description="percentile calibration: the percentile of the "
                              "activation values that sets each range")
    per_channel: bool = Field(True, description="int8 weight scales per output channel (off, --per-tensor: per "
                              "tensor)")
    exclude: list[str] = Field(default_factory=list, description="layer paths (globs) kept in float")
    tolerance: float = Field(1.0, ge=0, description="allowed val drop of the primary metric, in points (metric × "
                             "100)")
    auto_exclude: bool = Field(True, description="when over tolerance, keep the most sensitive layers in float "
                               "(leave-one-out sensitivity)")
    max_exclude: int = Field(3, ge=0, le=64, description="at most this many layers kept in float by auto_exclude "
                             "(0 = none)")
    qat: Literal["auto", "on", "off"] = Field(
        "auto", description="quantization-aware training (fold BatchNorm, fine-tune with fake quantization): on = "
        "always; auto = only if still over tolerance, kept if better; off = never")
    epochs: int = Field(2, ge=0, le=100_000, description="QAT epochs")
    lr: float = Field(1e-3, gt=0, le=10, description="QAT learning rate")
    latency_threads: int | None = Field(None, ge=1, le=256, description="onnxruntime threads of the latency "
                                        "measurements (stem choice, fp32-vs-int8 comparison; default: threads, else 1)")
    budget_s: float = Field(1.0, gt=0, le=60, description="seconds of timed runs per latency measurement (stem "
                            "choice, fp32-vs-int8 comparison)")
    stem: Literal["auto", "int8", "float"] = Field(
        "auto", description="keep a narrow-input stem conv in float: auto = when measured faster")

    def timing_threads(self) -> int:
        """Threads of the latency comparison: ``latency_threads``, else ``threads``, else 1."""
        return self.latency_threads or self.threads or 1
