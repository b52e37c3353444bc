"""Face recognition: the Haar detector options and the ``faces`` verbs' configs."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from .data import DataConfig
from .train import THREADS_HELP
from .verb import Verb


class DetectorConfig(BaseModel):
    """The face detector (Haar cascade options of ``cv2.CascadeClassifier.detectMultiScale``, or BlazeFace) plus
    cropping and alignment."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    detector: Literal["haar", "blazeface"] = Field(
        "haar", description="haar: OpenCV's Viola-Jones cascade; blazeface: MediaPipe's short-range BlazeFace "
        "(Bazarevsky et al. 2019; pip install --no-deps mediapipe==0.10.21 and the [teachers] extra)")
    score_threshold: float = Field(0.5, gt=0, lt=1, description="blazeface: keep boxes with p(face) ≥ this")
    nms_iou: float = Field(0.3, gt=0, le=1, description="blazeface: suppress boxes overlapping a better one by more "
                           "than this IoU")
    cascade: Literal["default", "alt2"] = Field("default", description="OpenCV frontal-face cascade: "
                                                "haarcascade_frontalface_default or _alt2 (Viola & Jones 2001)")
    scale_factor: float = Field(1.2, gt=1.0, le=2.0, description="image pyramid step (detectMultiScale "
                                "scaleFactor)")
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

    cli: ClassVar[Verb] = Verb(
        "faces enroll", "edgevision.faces:enroll", "add a person's face images to the gallery (no retraining)",
        examples=('edgevision faces enroll --db faces.db --artifact runs/faces --name "Ada Lovelace" ada1.jpg',),
        args=("images",), out=False, show="edgevision.faces.api:describe_enroll")

    model_config = ConfigDict(extra="forbid", frozen=True)
    db: str = Field(..., description="SQLite gallery file (created if missing)")
    name: str = Field(..., min_length=1, description="the person's name (free text, stored literally)")
    images: list[str] = Field(..., min_length=1, description="face images of that person")
    artifact: str | None = Field(None, description="face model (.pt/.evz), run folder, shipped name (face-embedder) "
                                 "or dlib-face (default: the gallery's; for a new gallery the shipped face-embedder)")
    detect: bool = Field(True, description="find and crop the face with the detector (off: images are face crops)")
    threshold: float | None = Field(None, description="store this acceptance threshold (cosine similarity) in "
                                    "the gallery (default for a new gallery: its embedder's calibrated one)")
    detector: DetectorConfig = Field(default_factory=DetectorConfig, description="Haar detector options (with "
                                     "detect)")
    threads: int | None = Field(None, ge=1, le=256, description=THREADS_HELP)


class FacesEvalConfig(BaseModel):
    """``faces_eval``: which artifact, which identities are known (gallery) and which are impostors."""

    cli: ClassVar[Verb] = Verb(
        "faces eval", "edgevision:faces_eval",
        "closed-set rank-1 and open-set TAR@FAR with held-out impostors; writes a gallery with its threshold",
        examples=("edgevision faces eval runs/faces --impostors orl --set impostors.options.subjects=31-40 "
                  "--db faces.db",), args=("artifact",), aliases=(("--impostors", "impostors.source"),),
        json="metrics")

    model_config = ConfigDict(extra="forbid", frozen=True)
    artifact: str = Field(..., description="face model (.pt/.evz) or run folder")
    known: DataConfig | None = Field(None, description="gallery = train split, probes = val/test (default: the "
                                     "artifact's data)")
    impostors: DataConfig | None = Field(None, description="identities never enrolled (split by identity)")
    targets: list[float] = Field(default_factory=lambda: [0.01, 0.001], min_length=1,
                                 description="target false-accept rates: τ is chosen on val for each, TAR and FAR "
                                 "reported on test")
    db: str | None = Field(None, description="also write this SQLite gallery (threshold = first target's)")
    threads: int | None = Field(None, ge=1, le=256, description=THREADS_HELP)


class IdentifyConfig(BaseModel):
    """``edgevision faces identify``: rank the enrolled names for the face in each image."""

    cli: ClassVar[Verb] = Verb(
        "faces identify", "edgevision.faces:identify", "rank-k names with cosine scores for the face in each image",
        examples=("edgevision faces identify --db faces.db photo.jpg --k 3",), args=("images",), out=False,
        show="edgevision.faces.api:describe_identify")

    model_config = ConfigDict(extra="forbid", frozen=True)
    db: str = Field(..., description="SQLite gallery file written by `edgevision faces enroll`")
    images: list[str] = Field(..., min_length=1, description="images with one face each (the largest is used)")
    artifact: str | None = Field(None, description="face model (default: the one the gallery was created with)")
    k: int = Field(5, ge=1, le=1000, description="how many ranked names to report")
    threshold: float | None = Field(None, description="acceptance threshold: a best score below it is unknown "
                                    "(default: the gallery's, else 0.5)")
    detect: bool = Field(True, description="find and crop the face with the detector (off: images are face crops)")
    detector: DetectorConfig = Field(default_factory=DetectorConfig, description="Haar detector options (with "
                                     "detect)")
    threads: int | None = Field(None, ge=1, le=256, description=THREADS_HELP)


class VerifyConfig(BaseModel):
    """``edgevision faces verify``: are the faces in two images the same person?"""

    cli: ClassVar[Verb] = Verb(
        "faces verify", "edgevision.faces:verify", "are the faces in two images the same person?",
        examples=("edgevision faces verify --artifact runs/faces a.jpg b.jpg --threshold 0.45",),
        args=("image_a", "image_b"), out=False, show="edgevision.faces.api:describe_verify")

    model_config = ConfigDict(extra="forbid", frozen=True)
    image_a: str = Field(..., description="first image")
    image_b: str = Field(..., description="second image")
    artifact: str | None = Field(None, description="face model (.pt/.evz), run folder, shipped name (face-embedder) "
                                 "or dlib-face (default: the shipped face-embedder)")
    threshold: float | None = Field(None, ge=-1, le=1, description="cosine similarity at or above which they match "
                                    "(default: the embedder's calibrated threshold, else 0.5)")
    detect: bool = Field(True, description="find and crop the face with the detector (off: images are face crops)")
    detector: DetectorConfig = Field(default_factory=DetectorConfig, description="Haar detector options (with "
                                     "detect)")
    threads: int | None = Field(None, ge=1, le=256, description=THREADS_HELP)


class DeleteConfig(BaseModel):
    """``edgevision faces delete``: remove a person from a gallery."""

    cli: ClassVar[Verb] = Verb("faces delete", "edgevision.faces:delete", "remove every embedding of a name",
                               examples=('edgevision faces delete --db faces.db --name "Ada Lovelace"',), out=False,
                               show="edgevision.faces.api:describe_delete")

    model_config = ConfigDict(extra="forbid", frozen=True)
    db: str = Field(..., description="SQLite gallery file")
    name: str = Field(..., min_length=1, description="the name to remove")
    artifact: str | None = Field(None, description="face model (default: the gallery's)")


class GalleryListConfig(BaseModel):
    """``edgevision faces list``: who is enrolled, with the gallery's model and threshold."""

    cli: ClassVar[Verb] = Verb("faces list", "edgevision.faces:list_gallery",
                               "names in the gallery and its model id / threshold",
                               examples=("edgevision faces list --db faces.db",), out=False,
                               show="edgevision.faces.api:describe_list")

    model_config = ConfigDict(extra="forbid", frozen=True)
    db: str = Field(..., description="SQLite gallery file")
