"""Where data comes from and how it is augmented: :class:`DataConfig` and :class:`AugmentConfig`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class DataConfig(BaseModel):
    """Where the data comes from and how it is shaped. Unset values take the source's or model's natives."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    source: str = Field("synthetic:shapes", description="format:arg, a path, or a shared dataset name")
    input_size: int | tuple[int, int] | None = Field(None, description="H×W fed to the model (int = square; "
                                                     "default: the source's native size)")
    channels: Literal[1, 3] | None = Field(None, description="1 (grey) or 3 (RGB) image channels, for sources "
                                           "that convert (default: the source's: grey for mnist and orl, else RGB)")
    val_fraction: float = Field(0.1, ge=0, le=0.9, description="fraction of the samples held out for validation "
                                "(sources with a fixed or their own val split, e.g. pennfudan, ignore it)")
    test_fraction: float = Field(0.1, ge=0, le=0.9, description="fraction of the samples held out for testing "
                                 "(sources with a fixed or their own test split, e.g. pennfudan, mnist, ignore it)")
    resize: Literal["stretch", "letterbox"] = Field(
        "stretch", description="how detection images become input_size: stretch (per-axis resize) or letterbox "
        "(aspect kept, scaled to fit and centred on grey 114 padding, as YOLO); the mapping is recorded with the "
        "model, so predict, demo and exported detectors map boxes back to the original pixels")
    seed: int = Field(0, description="seed of the random split, of limit's subset and of generated (synthetic) "
                      "data (the training order and augmentation follow the stage's own seed)")
    limit: int | None = Field(None, ge=1, description="keep at most this many samples of each split (a seeded "
                              "random subset; quick runs)")
    num_workers: int = Field(0, ge=0, le=32, description="loader processes for file-backed datasets (0: load in "
                             "the main process; in-memory datasets ignore it)")
    mean: tuple[float, ...] | None = Field(None, description="per-channel normalization mean on the 0–1 scale; "
                                           "used only with std (default: the source's, or measured on ≤ 512 train "
                                           "images)")
    std: tuple[float, ...] | None = Field(None, description="per-channel normalization std on the 0–1 scale; used "
                                          "only with mean: x ← (x − mean) / std")
    options: dict[str, Any] = Field(default_factory=dict, description="format-specific options, checked by the "
                                    "format (e.g. --set data.options.n_train=500 for synthetic)")

    def size_hw(self) -> tuple[int, int] | None:
        if self.input_size is None:
            return None
        return (self.input_size, self.input_size) if isinstance(self.input_size, int) else tuple(self.input_size)


class _Op(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    p: float = Field(0.5, ge=0, le=1, description="probability that a sample gets this op (drawn per sample)")


class RotateOp(_Op):
    degrees: float = Field(15.0, ge=0, le=180, description="largest angle in degrees: each rotation about the "
                           "centre is uniform in [−degrees, degrees]; uncovered corners are black")


class CropOp(_Op):
    scale: tuple[float, float] = Field((0.6, 1.0), description="range of the window's area as a fraction of the "
                                       "image (uniform); the window is stretched back to the full size")
    ratio: tuple[float, float] = Field((0.75, 1.333), description="range of the window's aspect ratio w/h "
                                       "(log-uniform)")


class TranslateOp(_Op):
    pixels: float = Field(2.0, ge=0, description="largest shift in pixels; x and y shifts are drawn independently "
                          "in [−pixels, pixels] and rounded to whole pixels")


class PerspectiveOp(_Op):
    """Demborg (2018): a random point in each corner cell of a 3×3 grid is mapped to the matching output corner."""


class BlurOp(_Op):
    sigma: float = Field(0.8, gt=0, description="σ of the Gaussian in pixels")
    kernel: int = Field(3, ge=3, le=15, description="side of the Gaussian kernel in pixels, odd (3, 5, ...)")

    @field_validator("kernel")
    @classmethod
    def _odd(cls, v: int) -> int:
        if v % 2 == 0:
            raise ValueError(f"the Gaussian kernel side must be odd (3, 5, ...), got {v}")
        return v


class AvgBlurOp(_Op):
    """OpenCV GSoC 2017's average (box) blur: the mean over a ``kernel``×``kernel`` window."""

    kernel: int = Field(3, ge=2, le=15, description="side of the averaging window in pixels (even sides are "
                        "anchored like cv2.blur)")


class NoiseOp(_Op):
    sigma: float = Field(8.0, ge=0, description="σ of the additive Gaussian noise, on the 0–255 scale")


class RangeOp(_Op):
    range: tuple[float, float] = Field((0.7, 1.3), description="(low, high) of the factor f, drawn uniformly per "
                                       "sample")


class SaltPepperOp(_Op):
    amount: float = Field(0.02, ge=0, le=0.5, description="fraction of the pixels replaced, half by black and half "
                          "by white (the same pixels in every channel)")


class ColorJitterOp(_Op):
    """Random brightness, contrast, saturation (factors in [1 − v, 1 + v]) and hue (a rotation of the chroma
    plane by up to ±``hue`` of a full turn), drawn per sample; saturation and hue act on RGB images only."""

    brightness: float = Field(0.2, ge=0, le=1, description="v of the brightness factor f ∈ [1 − v, 1 + v]: x ← f·x")
    contrast: float = Field(0.2, ge=0, le=1, description="v of the contrast factor f ∈ [1 − v, 1 + v] about the "
                            "image's mean m: x ← (x − m)·f + m")
    saturation: float = Field(0.2, ge=0, le=1, description="v of the chroma scale f ∈ [1 − v, 1 + v] (YIQ; RGB "
                              "only)")
    hue: float = Field(0.02, ge=0, le=0.5, description="largest hue rotation as a fraction of a full turn (0.5 = "
                       "±180°; RGB only)")


class ClaheOp(_Op):
    clip: float = Field(4.0, gt=0, description="CLAHE clip limit (cv2.createCLAHE clipLimit): caps each tile's "
                        "histogram before equalizing")
    tiles: int = Field(8, ge=1, le=64, description="the CLAHE grid is tiles × tiles")


class MosaicOp(_Op):
    """Bochkovskiy et al. (2020, YOLOv4)'s mosaic: 4 images of the batch tiled into a 2H×2W canvas around a random
    centre, then one random zoom and shift back to H×W (detection boxes and segmentation masks follow)."""

    p: float = Field(1.0, ge=0, le=1, description="probability that an output image is a mosaic (drawn per sample)")
    scale: float = Field(0.5, ge=0, lt=1, description="the zoom s of the canvas is uniform in [1 − scale, "
                         "1 + scale] (YOLO's 0.5; s = 1 shows a W×H window of the 2W×2H canvas)")
    translate: float = Field(0.1, ge=0, le=0.5, description="largest shift of the canvas centre, as a fraction of "
                             "the output side (uniform per axis)")
    min_size: float = Field(2.0, ge=0, description="boxes narrower or shorter than this many output pixels after "
                            "clipping are dropped")
    min_visible: float = Field(0.1, ge=0, le=1, description="boxes keeping less than this fraction of their mapped "
                               "area inside the output are dropped")
    fill: float = Field(114 / 255, ge=0, le=1, description="value (0–1 scale) of the canvas where no image lies "
                        "(YOLO's grey 114)")


class MixupOp(_Op):
    """Zhang et al. (2018)'s mixup for detection: x ← λ·x_i + (1 − λ)·x_j with another image j of the batch, both
    box sets kept."""

    p: float = Field(0.15, ge=0, le=1, description="probability that an image is blended with another (per sample)")
    alpha: float = Field(32.0, gt=0, description="λ ~ Beta(alpha, alpha) (YOLO's 32: λ stays near ½)")


class AugmentConfig(BaseModel):
    """Augmentations and their parameters; an op that is absent (None) is off.

    Detection and segmentation batches may first become mosaics (then the other ops apply to the mosaic); the
    geometric ops (crop → perspective → rotate → translate → flips) are composed into one warp that moves
    boxes and masks too; the photometric ops follow (color_jitter → blur → avg_blur → contrast → brightness →
    noise → salt_pepper → clahe), with mixup (detection) between the two. Only training batches are augmented.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    hflip: float = Field(0.0, ge=0, le=1, description="probability of a horizontal flip (mirror image)")
    vflip: float = Field(0.0, ge=0, le=1, description="probability of a vertical flip")
    rotate: RotateOp | None = Field(None, description="{p, degrees}: rotation about the centre (OpenCV GSoC 2017 "
                                    "rotated by up to ±45°)")
    crop: CropOp | None = Field(None, description="{p, scale, ratio}: random-resized crop, stretched back to the "
                                "input size")
    translate: TranslateOp | None = Field(None, description="{p, pixels}: shift by whole pixels")
    perspective: PerspectiveOp | None = Field(None, description="{p}: Demborg (2018)'s perspective warp: a random "
                                              "point in each corner cell of a 3×3 grid goes to the image corner")
    blur: BlurOp | None = Field(None, description="{p, sigma, kernel}: Gaussian blur")
    avg_blur: AvgBlurOp | None = Field(None, description="{p, kernel}: box blur, the mean over a kernel × kernel "
                                       "window (OpenCV GSoC 2017)")
    noise: NoiseOp | None = Field(None, description="{p, sigma}: additive Gaussian noise")
    contrast: RangeOp | None = Field(None, description="{p, range}: x ← (x − m)·f + m, m the image's mean")
    brightness: RangeOp | None = Field(None, description="{p, range}: x ← f·x")
    salt_pepper: SaltPepperOp | None = Field(None, description="{p, amount}: salt-and-pepper noise "
                                             "(Björgvinsdóttir & Seibold 2016)")
    clahe: ClaheOp | None = Field(None, description="{p, clip, tiles}: CLAHE on the L channel of Lab, or on grey "
                                  "images (Björgvinsdóttir & Seibold 2016)")
    color_jitter: ColorJitterOp | None = Field(None, description="{p, brightness, contrast, saturation, hue}: "
                                               "per-sample colour jitter")
    mosaic: MosaicOp | None = Field(None, description="{p, scale, translate, min_size, min_visible, fill}: 4-image "
                                    "mosaic (Bochkovskiy et al. 2020), detection and segmentation batches")
    mixup: MixupOp | None = Field(None, description="{p, alpha}: blend two images of the batch and keep both box "
                                  "sets (Zhang et al. 2018), detection batches")
    close_mosaic: int = Field(0, ge=0, description="turn mosaic and mixup off for the last N training epochs, so "
                              "the model ends on images like the test ones (YOLO's close_mosaic; 0 = never)")

    def is_identity(self) -> bool:
        return all(not v for v in self.model_dump().values())
