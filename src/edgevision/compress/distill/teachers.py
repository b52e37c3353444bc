"""Teachers: anything that turns a batch of images into class logits for the student's classes.

A teacher sees the student's batch as float images in [0, 1] at the student's size (B, C, H, W) — the exact
augmented pixels in ``online`` mode — and adapts them to its own input (resize, channels, normalization).

- **Artifacts** (``model.pt`` or a run folder): a classifier gives its logits directly. Other tasks (e.g.
  detection) plug in through :data:`PERSON_SCORERS`, a registry keyed by the artifact's task name that returns
  ``p(person)`` per image = max over detections of the person score (Stanček 2024); the target is then
  ``[1 − p, p]``.
- **OpenCV detectors** that need no download (:data:`TEACHERS`): ``hog`` (Dalal & Triggs 2005, OpenCV's
  default people SVM), ``haar-fullbody`` and ``haar-upperbody`` (Viola-Jones cascades shipped in
  ``cv2.data.haarcascades``). Their raw score (best SVM margin; most cascade neighbours) is mapped to a
  probability by Platt scaling, ``p = σ(a·score + b)``, fitted on (a sample of) the training split.

Probability targets become logits ``log p``, so temperature softening is uniform: ``softmax(log p / T)``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ... import shipped
from ...artifacts import Artifact, load_artifact
from ...configs.distill import TeacherOptions
from ...data.base import SampleDataset
from ...errors import ConfigError, EdgevisionError, UndescribedError, suggest
from ...models import count_params
from ...registry import Registry
from ...tasks.detection import person_probability
from ...tasks.kd import probs_to_logits
from .dlib_face import NAME, DlibFaceTeacher
from .ensemble import EnsembleTeacher
from .files import OUTPUTS, FileTeacher, is_teacher_file
from .mediapipe_selfie import LICENSE as SELFIE_LICENSE
from .mediapipe_selfie import selfie_teacher
from .teacher import Teacher

TEACHERS: Registry = Registry("teacher", builtins=("edgevision.compress.distill",), plural="teachers")
PERSON_SCORERS: Registry = Registry("person scorer", builtins=("edgevision.compress.distill",),
                                    plural="person-scorers")  # artifact task name → fn(artifact, person_name) → scorer




def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def adapt_images(x01: torch.Tensor, channels: int, size: tuple[int, int]) -> torch.Tensor:
    """Convert (B, C, H, W) [0, 1] images to ``channels`` (luma or replicated grey) and ``size`` (H, W)."""
    if x01.shape[1] != channels:
        if channels == 1:
            w = torch.tensor([0.299, 0.587, 0.114], dtype=x01.dtype).view(1, 3, 1, 1)
            x01 = (x01 * w).sum(1, keepdim=True)
        else:
            x01 = x01.expand(-1, channels, -1, -1)
    if tuple(x01.shape[-2:]) != tuple(size):
        x01 = F.interpolate(x01, size=tuple(size), mode="bilinear", align_corners=False, antialias=True)
    return x01


class ArtifactTeacher(Teacher):
    """An edgevision artifact of the student's task (classifier, segmenter, detector); frozen, in eval mode.

    ``logits`` returns its raw output for the student's batch, resized to the teacher's input; the base task's
    ``distill_view`` pairs it with the student's output (per image, per pixel or per anchor).
    """

    kind = "artifact"

    def __init__(self, art: Artifact) -> None:
        self.art, self.module, self.name = art, art.model.eval(), str(art.path)
        for p in self.module.parameters():
            p.requires_grad_(False)
        pre = art.preprocess
        self.input_shape = art.input_shape
        self.mean = torch.tensor(pre["mean"], dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(pre["std"], dtype=torch.float32).view(1, -1, 1, 1)
        self.class_names = list(art.task.get("class_names") or [])
        self._sha = sha256_file(art.path)

    def prepare(self, train: SampleDataset, class_names: list[str]) -> None:
        if self.class_names and self.class_names != list(class_names):
            raise ConfigError(f"teacher {self.name}: its classes {self.class_names} differ from the data's "
                              f"{list(class_names)}")

    def logits(self, x01: torch.Tensor) -> torch.Tensor:
        x = adapt_images(x01.float(), self.input_shape[0], self.input_shape[1:])
        self.module.eval()  # the student's trainer never puts the teacher in train mode, but a user might
        return self.module((x - self.mean) / self.std)

    def fingerprint(self) -> str:
        return f"artifact:{self._sha}"

    def size_bytes(self) -> int:
        return count_params(self.module) * 4

    def info(self) -> dict[str, Any]:
        return {**super().info(), "model": self.art.arch.name, "params": count_params(self.module),
                "file_bytes": self.art.path.stat().st_size, "sha256": self._sha}


def _uint8(x01: torch.Tensor) -> np.ndarray:
    """(B, C, H, W) [0, 1] → (B, H, W, 3) uint8 RGB for OpenCV."""
    x = (x01.detach().float().clamp(0, 1) * 255).round().to(torch.uint8)
    x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
    return np.ascontiguousarray(x.permute(0, 2, 3, 1).numpy())


class ScoreTeacher(Teacher):
    """A person scorer ``p(person)`` per image turned into 2-class logits ``log [1 − p, p]``."""

    kind = "detector"

    def __init__(self, name: str, score: Callable[[torch.Tensor], np.ndarray]) -> None:
        self.name, self.score = name, score
        self.person = 1

    def prepare(self, train: SampleDataset, class_names: list[str]) -> None:
        self.person = person_index(class_names, self.name)

    def probability(self, x01: torch.Tensor) -> np.ndarray:
        return np.asarray(self.score(x01), np.float32)

    def logits(self, x01: torch.Tensor) -> torch.Tensor:
        p = torch.from_numpy(self.probability(x01)).float().clamp(0, 1)
        probs = torch.stack([1 - p, p], 1) if self.person == 1 else torch.stack([p, 1 - p], 1)
        return probs_to_logits(probs)


def person_index(class_names: list[str], teacher: str) -> int:
    if len(class_names) != 2 or "person" not in class_names:
        raise ConfigError(f"teacher {teacher!r} gives p(person); the data needs two classes, one named 'person' "
                          f"(e.g. presence:pennfudan+coco128), not {class_names}")
    return class_names.index("person")


class OpenCVTeacher(ScoreTeacher):
    """A raw OpenCV detector score per image, calibrated to a probability on the training split (Platt)."""

    def __init__(self, name: str, raw: Callable[[np.ndarray], float], opt: TeacherOptions, size: int,
                 identity: str) -> None:
        super().__init__(name, self._calibrated)
        self.raw, self.opt, self._size, self.identity = raw, opt, size, identity
        self.a, self.b = 1.0, 0.0

    def raw_scores(self, x01: torch.Tensor) -> np.ndarray:
        d = self.opt.det_size
        return np.array([self.raw(cv2.resize(im, (d, d), interpolation=cv2.INTER_LINEAR)) for im in _uint8(x01)],
                        np.float64)

    def _calibrated(self, x01: torch.Tensor) -> np.ndarray:
        return 1 / (1 + np.exp(-(self.a * self.raw_scores(x01) + self.b)))

    def prepare(self, train: SampleDataset, class_names: list[str]) -> None:
        super().prepare(train, class_names)
        self.a, self.b = platt(self, train, self.person, self.opt.calibration_samples)

    def fingerprint(self) -> str:
        return f"opencv:{self.name}:{cv2.__version__}:{self.identity}:{self.opt.model_dump_json()}"

    def size_bytes(self) -> int:
        return self._size

    def info(self) -> dict[str, Any]:
        return {**super().info(), "opencv": cv2.__version__, "platt": {"a": self.a, "b": self.b},
                **self.opt.model_dump()}


def platt(teacher: OpenCVTeacher, train: SampleDataset, person: int, n: int) -> tuple[float, float]:
    """Fit ``p = σ(a·s + b)`` (logistic regression on the raw score) on up to ``n`` evenly spaced training samples."""
    from sklearn.linear_model import LogisticRegression

    idx = np.unique(np.linspace(0, len(train) - 1, min(n, len(train))).astype(int))
    samples = [s for i in idx if (s := train[int(i)]) is not None]
    x01 = torch.stack([s["image"] for s in samples]).float() / 255
    y = np.array([int(s["label"]) == person for s in samples])
    if y.all() or not y.any():
        raise EdgevisionError(f"teacher {teacher.name}: cannot calibrate on a training split with one class only")
    s = teacher.raw_scores(x01)
    lr = LogisticRegression(C=100.0).fit(s[:, None], y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


@TEACHERS.register("hog", description="OpenCV HOG + linear SVM people detector (Dalal & Triggs 2005)")
def hog_teacher(opt: TeacherOptions) -> OpenCVTeacher:
    if opt.det_size < 128:  # OpenCV crashes (SIGSEGV) on images smaller than its 64×128 window
        raise ConfigError(f"teacher_options.det_size: got {opt.det_size}; hog needs at least 128 (its window is "
                          f"64×128 pixels)")
    hog = cv2.HOGDescriptor()
    svm = cv2.HOGDescriptor_getDefaultPeopleDetector()
    hog.setSVMDetector(svm)

    def raw(im: np.ndarray) -> float:
        _, w = hog.detectMultiScale(im, hitThreshold=opt.hit_threshold, winStride=(8, 8), padding=(8, 8),
                                    scale=opt.scale, groupThreshold=0)
        return float(np.max(w)) if len(w) else opt.hit_threshold - 1.0  # best SVM margin over all windows

    return OpenCVTeacher("hog", raw, opt, int(np.asarray(svm).size * 4), "default-people-svm")


def _haar(file: str, name: str, opt: TeacherOptions) -> OpenCVTeacher:
    path = Path(cv2.data.haarcascades) / file
    cascade = cv2.CascadeClassifier(str(path))
    if cascade.empty():
        raise EdgevisionError(f"teacher {name}: cannot load {path} (is opencv-python-headless < 5 installed?)")

    def raw(im: np.ndarray) -> float:
        gray = cv2.cvtColor(im, cv2.COLOR_RGB2GRAY)
        _, neighbours = cascade.detectMultiScale2(gray, scaleFactor=opt.scale, minNeighbors=1)
        return float(np.max(neighbours)) if len(neighbours) else 0.0  # neighbours = OpenCV's cascade confidence

    return OpenCVTeacher(name, raw, opt, path.stat().st_size, sha256_file(path)[:16])


@TEACHERS.register("haar-fullbody", description="OpenCV Haar cascade, full body (Kruppa et al. 2003)")
def haar_fullbody(opt: TeacherOptions) -> OpenCVTeacher:
    return _haar("haarcascade_fullbody.xml", "haar-fullbody", opt)


@TEACHERS.register("haar-upperbody", description="OpenCV Haar cascade, upper body (Kruppa et al. 2003)")
def haar_upperbody(opt: TeacherOptions) -> OpenCVTeacher:
    return _haar("haarcascade_upperbody.xml", "haar-upperbody", opt)


class ArtifactScoreTeacher(ScoreTeacher):
    """A non-classifier artifact (e.g. a detector) scored by its task's registered person scorer."""

    kind = "artifact-detector"

    def __init__(self, art: Artifact, scorer: Callable[[torch.Tensor], np.ndarray]) -> None:
        super().__init__(str(art.path), scorer)
        self.art, self.module, self._sha = art, art.model.eval(), sha256_file(art.path)
        self.input_shape = art.input_shape
        for p in self.module.parameters():
            p.requires_grad_(False)

    def fingerprint(self) -> str:
        return f"artifact:{self._sha}"

    def size_bytes(self) -> int:
        return count_params(self.module) * 4


def build_teacher(spec: str, opt: TeacherOptions | None = None, task: str | None = "classification",
                  description: dict[str, Any] | None = None) -> Teacher:
    """A built-in teacher name (``hog``, ``haar-fullbody``, ``haar-upperbody``, ``dlib-face``,
    ``mediapipe-selfie``), a ``.onnx`` / ``.tflite`` file with its adapter (:mod:`.files`), an artifact path / run
    folder, or an ensemble of those joined by ``+`` (``runs/t+hog``; :mod:`.ensemble`, classification only).

    ``task`` is the student's task; ``None`` means the artifact's own. An artifact of the student's task teaches
    with its raw outputs (class logits, per-pixel logit maps, per-anchor ConvDet maps; the task pairs them up).
    A detector artifact teaches a *classifier* through its :data:`PERSON_SCORERS` entry (people presence).
    """
    opt = opt or TeacherOptions()
    if spec in TEACHERS:
        return TEACHERS.get(spec)(opt)
    if is_teacher_file(spec, opt):
        return FileTeacher(spec, opt)
    if "+" in spec and not Path(spec).exists():
        return build_ensemble(spec, opt, task)
    if not Path(spec).exists() and shipped.path(spec) is None:
        raise ConfigError(f"teacher {spec!r}: not a built-in teacher ({', '.join(TEACHERS.names())}), a shipped "
                          f"model{suggest(spec, shipped.names())} nor an existing artifact or run folder")
    art = load_teacher_artifact(spec, description)
    own = art.task.get("name")
    task = task or own
    if task == own:
        return ArtifactTeacher(art)
    if task == "classification" and own in PERSON_SCORERS:
        return ArtifactScoreTeacher(art, PERSON_SCORERS.get(own)(art, "person"))
    scorers = ", ".join(PERSON_SCORERS.names()) or "none yet"
    who = "a classifier" if task == "classification" else f"a {task!r} student"
    raise ConfigError(f"teacher {spec}: a {own!r} artifact cannot teach {who} (same-task artifacts teach "
                      f"directly; person scorers for a presence classifier exist for: {scorers})")


def load_teacher_artifact(spec: str, description: dict[str, Any] | None) -> Artifact:
    """An artifact path or shipped name; ``description`` holds the ``--teacher-onnx.*`` options of a foreign
    ``.onnx``. A foreign ``.onnx`` given neither those nor an output adapter is most likely a teacher file."""
    try:
        return load_artifact(spec, description or None)
    except UndescribedError:
        raise ConfigError(f"teacher {spec}: a teacher file needs to say what its first output holds: "
                          f"--teacher-options.output {'|'.join(OUTPUTS)} (or, to read it as a foreign ONNX "
                          f"artifact, --teacher-onnx.mean and --teacher-onnx.std)") from None
    except ConfigError as e:  # a foreign file's description names eval's flags; a teacher's are --teacher-onnx.*
        raise type(e)(FOREIGN_FLAG.sub(r"--teacher-onnx.\1", str(e))) from None


FOREIGN_FLAG = re.compile(r"(?<![\w.-])--(input-size|channels|mean|std|task|classes|labels)\b")


def build_ensemble(spec: str, opt: TeacherOptions, task: str | None) -> Teacher:

    if (task or "classification") != "classification":
        raise ConfigError(f"teacher {spec!r}: an ensemble (members joined by '+') averages class probabilities, so "
                          f"it teaches classification students only, not {task!r}")
    parts = [p for p in spec.split("+") if p]
    if len(parts) < 2:
        raise ConfigError(f"teacher {spec!r}: an ensemble joins two or more teachers with '+' (e.g. runs/t+hog)")
    return EnsembleTeacher([build_teacher(p, opt, "classification") for p in parts])


@PERSON_SCORERS.register("detection", description="p(person) = max over anchors of σ(conf)·softmax(class)[person]")
def detection_person_scorer(art: Artifact, person: str = "person") -> Callable[[torch.Tensor], np.ndarray]:
    """An edgevision detector artifact as a people-presence teacher (Stanček's (2024) adapter)."""

    person_probability(art, torch.zeros(1, 3, 8, 8), person)  # fail now, naming the classes, if there is none
    return lambda x01: person_probability(art, x01.float(), person).numpy()


@TEACHERS.register(NAME, description="dlib's ResNet face embedding, 128-d, 5-point alignment (King 2017; extra "
                   "[teachers], CC0)")
def dlib_face_teacher(opt: TeacherOptions) -> DlibFaceTeacher:
    return DlibFaceTeacher(opt)


@TEACHERS.register("mediapipe-selfie", description="MediaPipe selfie segmentation, p(person) per pixel, 256×256 "
                   f"(pip install --no-deps mediapipe==0.10.21; {SELFIE_LICENSE})")
def mediapipe_selfie(opt: TeacherOptions) -> FileTeacher:
    return selfie_teacher("mediapipe-selfie", opt)


@TEACHERS.register("mediapipe-selfie-landscape", description="MediaPipe selfie segmentation, landscape, 144×256")
def mediapipe_selfie_landscape(opt: TeacherOptions) -> FileTeacher:
    return selfie_teacher("mediapipe-selfie-landscape", opt)
