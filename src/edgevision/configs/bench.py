"""The measurement stages: ``profile`` and ``bench``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from .data import DataConfig
from .foreign import ForeignOnnxOptions
from .train import WEIGHTS_HELP, WEIGHTS_STRICT_HELP
from .verb import Verb

BENCH_ENGINES = ("torch", "onnxruntime", "cv2", "openvino", "litert", "executorch", "ncnn")
PROFILE_ENGINES = ("torch", "onnxruntime", "openvino", "litert", "executorch", "ncnn")
EXTRA_ENGINES = {"openvino": "openvino", "litert": "ai_edge_litert",  # engine → the module its optional extra installs
                 "executorch": "executorch", "ncnn": "ncnn"}


def installed(engines: tuple[str, ...]) -> list[str]:
    """``engines`` less those whose optional extra is missing (checked without importing it)."""
    import importlib.util

    return [e for e in engines if e not in EXTRA_ENGINES or importlib.util.find_spec(EXTRA_ENGINES[e]) is not None]


class ProfileConfig(BaseModel):
    """``edgevision profile``: a registered model name or an artifact."""

    cli: ClassVar[Verb] = Verb(
        "profile", "edgevision:profile",
        "params, MACs, latency p50/p90 (on each installed engine), throughput and memory of a model",
        examples=("edgevision profile squeezenet1_1 --input-size 3x224x224 --threads 1",), args=("target",),
        show="edgevision.bench.profile:describe", aliases=(("--input", "input_size"),), json="profile")

    model_config = ConfigDict(extra="forbid", frozen=True)
    target: str = Field(..., description="model reference (a name from `edgevision models`, module:callable, "
                        "file.py:callable) or artifact / run folder")
    input_size: str | None = Field(None, validation_alias=AliasChoices("input_size", "input"),
                                   description="C×H×W, e.g. 3x224x224 (default: the model's)")
    model_kwargs: dict[str, Any] = Field(default_factory=dict, description="constructor options of a model "
                                         "reference target")
    weights: str | None = Field(None, description="for a model reference target: " + WEIGHTS_HELP)
    weights_strict: bool = Field(True, description=WEIGHTS_STRICT_HELP)
    threads: int | None = Field(None, ge=1, le=256, description="threads of torch and onnxruntime (default: "
                                "torch's current thread count)")
    batch: int = Field(8, ge=1, le=1024, description="batch size for the throughput measurement")
    engines: list[Literal["torch", "onnxruntime", "openvino", "litert", "executorch", "ncnn"]] = Field(
        default_factory=lambda: installed(PROFILE_ENGINES), description="engines to time (default: those installed; "
        "an .onnx target runs in onnxruntime and openvino, an .xml in openvino, a .tflite in litert, a .pte in "
        "executorch, a .param in ncnn; a model is converted for them when their converters are installed)")
    budget_s: float = Field(1.0, gt=0, le=60, description="seconds of timed runs per measurement")


class BenchConfig(ForeignOnnxOptions):
    """``edgevision bench``: artifacts to compare, on which data, engines and threads."""

    cli: ClassVar[Verb] = Verb(
        "bench", "edgevision:bench",
        "one table: accuracy, size, params, MACs, latency p50/p90, throughput, GMAC/s and % of peak, per artifact × "
        "engine (torch, onnxruntime, cv2.dnn, OpenVINO, LiteRT, ExecuTorch, ncnn) × precision × threads",
        examples=("edgevision bench runs/t runs/t-export --threads 1,2",), args=("artifacts",),
        show="edgevision.bench.bench:describe", aliases=(("--data", "data.source"), ("--budget", "budget_s")),
        json="bench")

    model_config = ConfigDict(extra="forbid", frozen=True)
    artifacts: list[str] = Field(..., min_length=1, description="model files or run folders")
    labels: list[str] | None = Field(None, description="row labels in order, one per benchmarked file (an "
                                     "expanded export counts once per file; default: folder/file)")
    data: DataConfig | None = Field(None, description="default: the data each artifact was trained on")
    split: Literal["train", "val", "test"] = Field("test", description="split the accuracy is measured on")
    limit: int | None = Field(None, ge=1, description="use the first N samples of the split for accuracy")
    threads: list[Annotated[int, Field(ge=1, le=256)]] = Field(default_factory=lambda: [1], min_length=1,
                                                               description="thread counts, one set of rows each "
                                                               "(torch, onnxruntime and cv2 alike)")
    engines: list[Literal["torch", "onnxruntime", "cv2", "openvino", "litert", "executorch", "ncnn"]] = Field(
        default_factory=lambda: installed(BENCH_ENGINES), description="torch (eager), onnxruntime, cv2 (cv2.dnn), "
        "openvino, litert, executorch and ncnn (their extras; default: those installed); a .pt is exported to ONNX for "
        "onnxruntime and cv2, converted from it for openvino, and converted to .tflite / .pte for litert / "
        "executorch / ncnn when their converters are installed")
    torch_bf16: bool = Field(False, description="also run torch in bf16 (channels-last, AMX/AVX-512 BF16)")
    batch: int = Field(32, ge=1, le=1024, description="batch size of the throughput measurement")
    budget_s: float = Field(1.0, gt=0, le=120, description="seconds of timing per row, for batch 1 and again for "
                            "the batch, split over the rounds")
    rounds: int = Field(7, ge=1, le=50, description="interleaved timing rounds (every row gets budget_s / rounds "
                        "per round); the verdicts give the spread of the per-round ratios")
    peak: bool = Field(True, description="measure the GEMM peak (fp32 and int8) per thread count")
    expand_exports: bool = Field(True, description="an export's main file brings its sibling files (fp32, ...)")

    @field_validator("artifacts", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str | Path) else v
