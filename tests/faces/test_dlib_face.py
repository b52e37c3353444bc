"""dlib-face: the missing extra is one line; with the extra, its embeddings tell people apart on LFW photos."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from conftest import require_data
from edgevision.compress.distill import dlib_face as dl
from edgevision.configs.distill import TeacherOptions
from edgevision.errors import EdgevisionError

needs_dlib = pytest.mark.skipif(not dl.available(), reason='the [teachers] extra (dlib-bin, face-recognition-models) '
                                'is not installed: pip install -e ".[teachers]"')


def test_missing_extra_names_the_install_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "face_recognition_models" else
                        real(n, *a))
    with pytest.raises(EdgevisionError, match=r"dlib-face needs .*: pip install"):
        dl.DlibFace()
    assert not dl.available()


def test_centred_box():
    assert dl.centred_box(100, 200, 0.5).tolist() == [[75, 25, 125, 75]]


@needs_dlib
@pytest.mark.data
def test_teacher_embeds_lfw_crops_by_identity():
    from edgevision.compress.distill.teachers import build_teacher
    from edgevision.faces.lfw import load_faces

    root = require_data("lfw_deepfunneled")
    keys = [("Colin_Powell", 1), ("Colin_Powell", 2), ("Serena_Williams", 1), ("Serena_Williams", 3)]
    x = torch.from_numpy(load_faces(root, keys, (64, 64))).permute(0, 3, 1, 2).float() / 255
    teacher = build_teacher("dlib-face", TeacherOptions())
    e = teacher.logits(x).numpy()
    assert e.shape == (4, 128) and np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5)
    sim = e @ e.T
    assert min(sim[0, 1], sim[2, 3]) > max(sim[0, 2], sim[0, 3], sim[1, 2], sim[1, 3]) + 0.05
    info = teacher.info()
    assert info["kind"] == "embedding" and "CC0" in info["license"] and info["size_bytes"] > 30e6
    assert teacher.fingerprint() == build_teacher("dlib-face", TeacherOptions()).fingerprint()
