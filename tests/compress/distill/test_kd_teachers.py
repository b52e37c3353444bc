"""Teachers: artifacts, OpenCV people detectors (HOG, Haar), pluggable detector person scorers, the score."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from kd_helpers import CLASSES, make_teacher_artifact

from edgevision.artifacts import save_model
from edgevision.compress.distill.score import distillation_score
from edgevision.compress.distill.teachers import (
    PERSON_SCORERS,
    TEACHERS,
    ArtifactScoreTeacher,
    ArtifactTeacher,
    TeacherOptions,
    adapt_images,
    build_teacher,
)
from edgevision.data import TensorSampleDataset
from edgevision.errors import ConfigError
from edgevision.models import build_model

PRESENCE = ["no_person", "person"]


def _presence_set(n: int = 24, size: int = 48) -> TensorSampleDataset:
    """Bright vertical bars ('people') on half the images, flat noise on the others."""
    g = torch.Generator().manual_seed(0)
    x = torch.randint(60, 120, (n, 3, size, size), generator=g, dtype=torch.uint8)
    y = torch.arange(n) % 2
    x[y == 1, :, 8:40, 20:28] = 250
    return TensorSampleDataset(x, {"label": y}, PRESENCE)


def test_builtin_registry_lists_opencv_teachers():
    assert {"hog", "haar-fullbody", "haar-upperbody"} <= set(TEACHERS.names())


@pytest.mark.parametrize("name", ["hog", "haar-fullbody", "haar-upperbody"])
def test_opencv_teachers_calibrate_and_give_two_class_logits(name):
    ds = _presence_set()
    teacher = build_teacher(name, TeacherOptions(det_size=128, calibration_samples=24))
    teacher.prepare(ds, PRESENCE)
    logits = teacher.logits(ds.images[:6].float() / 255)
    p = logits.softmax(1)
    assert logits.shape == (6, 2) and torch.isfinite(logits).all()
    assert torch.allclose(p.sum(1), torch.ones(6), atol=1e-5)
    assert teacher.size_bytes() > 0 and name in teacher.fingerprint()
    assert set(teacher.info()) >= {"name", "kind", "size_bytes", "platt"}


def test_hog_refuses_images_smaller_than_its_window():
    with pytest.raises(ConfigError, match="det_size: got 96; hog needs at least 128"):
        build_teacher("hog", TeacherOptions(det_size=96))


def test_detector_teacher_needs_person_classes():
    teacher = build_teacher("hog")
    with pytest.raises(ConfigError, match="one named 'person'"):
        teacher.prepare(_presence_set(), CLASSES)


def test_artifact_teacher_adapts_size_and_checks_classes(tmp_path):
    path = make_teacher_artifact(tmp_path / "t.pt", size=32)
    teacher = build_teacher(str(path))
    assert isinstance(teacher, ArtifactTeacher) and teacher.input_shape == (3, 32, 32)
    out = teacher.logits(torch.rand(2, 1, 24, 24))  # grey 24² student batch → RGB 32² teacher input
    assert out.shape == (2, 4)
    assert not any(p.requires_grad for p in teacher.module.parameters())
    teacher.prepare(None, CLASSES)
    with pytest.raises(ConfigError, match="differ from the data's"):
        teacher.prepare(None, ["a", "b", "c", "d"])
    assert adapt_images(torch.rand(1, 3, 8, 8), 1, (4, 4)).shape == (1, 1, 4, 4)


def test_detector_artifacts_plug_in_through_person_scorers(tmp_path):
    model = build_model("student_cnn", width=4, depth=2, num_classes=3)
    pre = {"input_size": [32, 32], "channels": 3, "mean": [0.5] * 3, "std": [0.25] * 3}
    path = save_model(tmp_path / "det.pt", model, task={"name": "fake_detection"}, preprocess=pre)
    with pytest.raises(ConfigError, match="cannot teach a classifier"):
        build_teacher(str(path))

    def scorer(art, person):  # what the detection task registers: p(person) = max person score per image
        return lambda x01: x01.mean((1, 2, 3)).numpy()

    PERSON_SCORERS.register("fake_detection", scorer)
    try:
        teacher = build_teacher(str(path))
        assert isinstance(teacher, ArtifactScoreTeacher)
        teacher.prepare(None, PRESENCE)
        x = torch.full((2, 3, 8, 8), 0.75)
        assert torch.allclose(teacher.logits(x).softmax(1), torch.tensor([[0.25, 0.75]] * 2), atol=1e-5)
    finally:
        PERSON_SCORERS._entries.pop("fake_detection")


def test_unknown_teacher_is_one_line():
    with pytest.raises(ConfigError, match=r"not a built-in teacher .*haar-fullbody.*hog"):
        build_teacher("hgo")


def test_distillation_score_golden():
    # 0.5·(1/4) + 0.5·(1 − 0.9/0.8) = 0.125 − 0.0625
    assert distillation_score(1, 4, 0.9, 0.8) == pytest.approx(0.0625)
    # Stanček (2024): sizes 33.5 MB / 135.8 MB and DS −0.15 ⇒ acc_s/acc_t = 1 + 33.5/135.8 + 0.3
    r = 1 + 33.5 / 135.8 + 0.3
    assert distillation_score(33.5, 135.8, r, 1.0) == pytest.approx(-0.15)
    assert np.isnan(distillation_score(1, 0, 0.5, 0.5))
