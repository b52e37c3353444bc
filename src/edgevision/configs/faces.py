"""Face recognition: the Haar detector options and the ``faces`` verbs' configs."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .data import DataConfig


class DetectorConfig(BaseModel):
    """Haar cascade options (``cv2.CascadeClassifier.detectMultiScale``) plus cropping and alignment."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    cascade: Literal["default", "alt2"] = "default"
    scale_factor: float = Field(1.2, gt=1.0, le=2.0, description="image pyramid step")
    min_neighbors: int = Field(4, ge=0, le=50, description="overlapping detections needed to keep a box")
    min_size: int = Field(60, ge=8, description="smallest face side in pixels (of the full-resolution frame); a "
                          "door camera sees faces ≥ 60 px in 640×480")
    detect_width: int | None = Field(240, ge=64, description="downscale frames wider than this before detecting "
                                     "(boxes are mapped back; the cascade's cost falls with the area); None = full "
                                     "resolution")
    margin: float = Field(0.1, ge=0, le=1.0, description="fraction of the box side added on every side")
    align: bool = Field(False, description="rotate so the eyes (Haar eye cascade) are level")


class EnrollConfig(BaseModel):
    """``faces_enroll`` stage: add one person's images to a gallery."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    artifact: str = Field(..., description="face model (.pt/.evz) or run folder")
    db: str = Field(..., description="SQLite gallery file (created if missing)")
    name: str = Field(..., min_length=1)
    images: list[str] = Field(..., min_length=1)
    detect: bool = True
    threshold: float | None = None


class FacesEvalConfig(BaseModel):
    """``faces_eval``: which artifact, which identities are known (gallery) and which are impostors."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    artifact: str = Field(..., description="face model (.pt/.evz) or run folder")
    known: DataConfig | None = Field(None, description="gallery = train split, probes = val/test (default: the "
                                     "artifact's data)")
    impostors: DataConfig | None = Field(None, description="identities never enrolled (split by identity)")
    targets: list[float] = Field(default_factory=lambda: [0.01, 0.001], min_length=1)
    db: str | None = Field(None, description="also write this SQLite gallery (threshold = first target's)")
