"""The deployment stages: ``export`` and ``quantize``."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field, model_validator

from .compress import FinetuneConfig
from .data import DataConfig
from .foreign import ForeignOnnxOptions
from .train import THREADS_HELP
from .verb import Verb

OPSET = 17  # the lowest ONNX opset every engine here runs (LayerNormalization, QDQ per channel)
# The one agreement bar of every reduced-precision file (export and quantize alike): top-1 agreement with the
# torch model on the hold-out. |accuracy(int8) − accuracy(fp32)| ≤ 1 − agreement, so 0.99 bounds the accuracy
# change by 1 point, quantize's default tolerance.
MIN_AGREEMENT = 0.99
HOLDOUT = 512  # first val (else test) samples of the parity checks
RTOL = 1e-4  # max |file − torch| / max |torch| of a float file
AGREEMENT_HELP = ("top-1 agreement with the torch model on the hold-out required of every fp16/bf16/int8 file (per "
                  "position for maps); one bar for export and quantize: 0.99 bounds the accuracy change by 1 point")
REDUCE_RANGE_HELP = ("int8 weights in 7 bits, so that x86 CPUs without VNNI (AVX2) do not saturate their int16 sums "
                     "of products: on, off, or auto = on where this CPU is x86 without VNNI (set it for the target "
                     "CPU when that is another machine)")
HOLDOUT_HELP = "first val (else test) samples of the parity checks (8 random inputs when the data is unknown)"
ONNX_ENGINES = ("onnxruntime", "cv2")

class ExportConfig(ForeignOnnxOptions):
    """``edgevision export``: an artifact, a format, and precision variants (a foreign ONNX input is described by
    the :class:`ForeignOnnxOptions` once, like in the other verbs)."""

    cli: ClassVar[Verb] = Verb(
        "export", "edgevision:export",
        "export to ONNX (opset ≥ 17, dynamic batch, self-describing metadata) with fp16/bf16/int8 variants; every "
        "file is parity-checked in onnxruntime and cv2.dnn",
        examples=("edgevision export runs/t --format onnx --int8 --fp16 --out runs/t-export",), args=("artifact",),
        aliases=(("--data", "data.source"), ("--static-batch", "!dynamic_batch")))

    model_config = ConfigDict(extra="forbid", frozen=True)
    artifact: str = Field(..., description="model file or run folder")
    format: str = Field("onnx", description="export format (`edgevision list exporters`): onnx; pt (16-bit weight "
                        "storage with --fp16/--bf16); openvino (IR: fp32, --bf16 compute, --int8 via NNCF; extra "
                        "[openvino]); tflite (LiteRT: fp32, --int8; extra [litert]); executorch (.pte with XNNPACK: "
                        "fp32, --int8; extra [executorch]); ncnn (via pnnx: fp32; extra [ncnn]); best (the fastest "
                        "installed "
                        "candidate within --tolerance)")
    int8: bool = Field(False, description="also write an int8 (QDQ, static, calibrated) file")
    fp16: bool = Field(False, description="also write a file with fp16 weight storage")
    bf16: bool = Field(False, description="also write a file with bf16 weight storage")
    opset: int = Field(OPSET, ge=17, le=21, description="ONNX opset version of the exported graph")
    dynamic_batch: bool = Field(True, description="symbolic batch dimension (off, --static-batch: fixed at 1)")
    calibration: Literal["minmax", "entropy", "percentile"] = Field(
        "minmax", description="int8 activation-range calibration in onnxruntime (percentile: at the 99.999th)")
    calib_samples: int = Field(256, ge=1, le=100_000, description="first train samples used for int8 calibration")
    holdout: int = Field(HOLDOUT, ge=8, le=100_000, description=HOLDOUT_HELP)
    per_channel: bool = Field(True, description="int8 weight scales per output channel (off: per tensor)")
    reduce_range: Literal["auto", "on", "off"] = Field("auto", description=REDUCE_RANGE_HELP)
    exclude: list[str] = Field(default_factory=list, description="layers (globs) kept in float in the int8 file")
    stem: Literal["auto", "int8", "float"] = Field(
        "auto", description="int8: keep a narrow-input stem conv in float (auto = when measured faster)")
    rtol: float = Field(RTOL, gt=0, le=1, description="max |file − torch| / max |torch| allowed of fp32 files (and of "
                        "pt files against their rounded weights); both the absolute and the relative error are "
                        "reported")
    min_agreement: float = Field(MIN_AGREEMENT, ge=0, le=1, description=AGREEMENT_HELP)
    tolerance: float = Field(1.0, ge=0, le=100, description="allowed test-accuracy drop, in points (metric × 100): "
                             "of an OpenVINO int8 file against its fp32 file, and of --format best's candidates "
                             "against the torch model")
    engines: list[Literal["onnxruntime", "cv2"]] | None = Field(
        None, description="engines every .onnx file must pass its check in; a file failing in one is deleted "
        "(default: onnxruntime for every file, and cv2.dnn for fp32 and fp16; cv2.dnn reads no bf16 weights and "
        "re-quantizes int8 graphs with its own kernels, so those files are for onnxruntime unless you list cv2)")
    data: DataConfig | None = Field(None, description="data for calibration and parity checks (default: the data "
                                    "the artifact was trained on)")
    threads: int | None = Field(None, ge=1, le=256, description=THREADS_HELP)

    @model_validator(mode="before")
    @classmethod
    def _old_cv2_option(cls, v: Any) -> Any:
        """The former ``cv2: check|require|off`` option: require → both engines, off → onnxruntime only."""
        if isinstance(v, dict) and "cv2" in v and "engines" not in v:
            v = dict(v)
            mode = v.pop("cv2")
            v["engines"] = {"require": list(ONNX_ENGINES), "off": ["onnxruntime"]}.get(mode)
        return v

    def engines_for(self, precision: str) -> tuple[str, ...]:
        """The engines a file of ``precision`` is checked in."""
        if self.engines is not None:
            return tuple(self.engines)
        return ONNX_ENGINES if precision in ("fp32", "fp16") else ("onnxruntime",)


class QuantizeConfig(FinetuneConfig, ForeignOnnxOptions):
    """``edgevision quantize``: precision and int8 options (the training options apply to QAT)."""

    cli: ClassVar[Verb] = Verb(
        "quantize", "edgevision:quantize",
        "int8 (static PTQ in onnxruntime, calibration comparison, sensitivity exclusion, QAT) or fp16/bf16 weight "
        "storage; reports accuracy and speed against fp32 on the same engine",
        examples=("edgevision quantize runs/t --calibration best --tolerance 1 --qat auto --out runs/t-int8",),
        args=("artifact",), aliases=(("--per-tensor", "!per_channel"),))

    artifact: str = Field(..., description="model file or run folder (a float model: .pt, .evz, or an fp32 .onnx)")
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
    reduce_range: Literal["auto", "on", "off"] = Field("auto", description=REDUCE_RANGE_HELP)
    exclude: list[str] = Field(default_factory=list, description="layer paths (globs) kept in float")
    tolerance: float = Field(1.0, ge=0, description="allowed val drop of the primary metric, in points (metric × "
                             "100)")
    min_agreement: float = Field(MIN_AGREEMENT, ge=0, le=1, description=AGREEMENT_HELP + "; the int8 search goes "
                                 "on (exclusion, QAT) while it is missed, and a final file under it is deleted")
    holdout: int = Field(HOLDOUT, ge=8, le=100_000, description=HOLDOUT_HELP)
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
    budget_s: float = Field(1.0, gt=0, le=60, description="seconds of timed runs per file in the first 7 "
                            "interleaved rounds of a latency comparison (stem choice, fp32 vs int8); rounds are "
                            "added (up to 30) until the speed-up's standard error is ≤ 1 %")
    stem: Literal["auto", "int8", "float"] = Field(
        "auto", description="keep a narrow-input stem conv in float: auto = when measured faster")

    def timing_threads(self) -> int:
        """Threads of the latency comparison: ``latency_threads``, else ``threads``, else 1."""
        return self.latency_threads or self.threads or 1
