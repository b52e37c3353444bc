"""Where data comes from and how it is augmented: :class:`DataConfig` and :class:`AugmentConfig`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class DataConfig(BaseModel):
    """Where the data comes from and how it is shaped. Unset values take the source's or model's natives."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    source: str = Field("synthetic:shapes", description="format:arg, a path, or a shared dataset name")
    input_size: int | tuple[int, int] | None = Field(None, description="H×W fed to the model (int = square)")
    channels: Literal[1, 3] | None = None
    val_fraction: float = Field(0.1, ge=0, le=0.9)
    test_fraction: float = Field(0.1, ge=0, le=0.9)
    seed: int = 0
    limit: int | None = Field(None, ge=1, description="cap on samples per split (quick runs)")
    num_workers: int = Field(0, ge=0, le=32, description="loader processes for file-backed datasets")
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    options: dict[str, Any] = Field(default_factory=dict, description="format-specific options")

    def size_hw(self) -> tuple[int, int] | None:
        if self.input_size is None:
            return None
        return (self.input_size, self.input_size) if isinstance(self.input_size, int) else tuple(self.input_size)


class _Op(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    p: float = Field(0.5, ge=0, le=1, description="probability per sample")


class RotateOp(_Op):
    degrees: float = Field(15.0, ge=0, le=180)


class CropOp(_Op):
    scale: tuple[float, float] = (0.6, 1.0)  # kept area fraction
    ratio: tuple[float, float] = (0.75, 1.333)


class TranslateOp(_Op):
    pixels: float = Field(2.0, ge=0)


class PerspectiveOp(_Op):
    """Doc 004: a random point in each corner cell of a 3×3 grid is mapped to the matching output corner."""


class BlurOp(_Op):
    sigma: float = Field(0.8, gt=0)
    kernel: int = Field(3, ge=3, le=15)


class AvgBlurOp(_Op):
    """Doc 001's average (box) blur: the mean over a ``kernel``×``kernel`` window."""

    kernel: int = Field(3, ge=2, le=15)


class NoiseOp(_Op):
    sigma: float = Field(8.0, ge=0, description="Gaussian σ on the 0–255 scale")


class RangeOp(_Op):
    range: tuple[float, float] = (0.7, 1.3)


class SaltPepperOp(_Op):
    amount: float = Field(0.02, ge=0, le=0.5)


class ColorJitterOp(_Op):
    """Random brightness, contrast, saturation (factors in [1 − v, 1 + v]) and hue (a rotation of the chroma
    plane by up to ±``hue`` of a full turn), drawn per sample; saturation and hue act on RGB images only."""

    brightness: float = Field(0.2, ge=0, le=1)
    contrast: float = Field(0.2, ge=0, le=1)
    saturation: float = Field(0.2, ge=0, le=1)
    hue: float = Field(0.02, ge=0, le=0.5)


class ClaheOp(_Op):
    clip: float = Field(4.0, gt=0)
    tiles: int = Field(8, ge=1, le=64)


class AugmentConfig(BaseModel):
    """Augmentations and their parameters; an op that is absent (None) is off."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    hflip: float = Field(0.0, ge=0, le=1, description="probability of a horizontal flip")
    vflip: float = Field(0.0, ge=0, le=1, description="probability of a vertical flip")
    rotate: RotateOp | None = None
    crop: CropOp | None = None
    translate: TranslateOp | None = None
    perspective: PerspectiveOp | None = None
    blur: BlurOp | None = None
    avg_blur: AvgBlurOp | None = None
    noise: NoiseOp | None = None
    contrast: RangeOp | None = None
    brightness: RangeOp | None = None
    salt_pepper: SaltPepperOp | None = None
    clahe: ClaheOp | None = None
    color_jitter: ColorJitterOp | None = None

    def is_identity(self) -> bool:
        return all(not v for v in self.model_dump().values())
