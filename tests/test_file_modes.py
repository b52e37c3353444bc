"""Files and folders written atomically get the mode a plain ``open``/``mkdir`` would give under the umask, so a
deploy user, container or web server can read ``model.pt``, ``.evz``, ``.onnx`` and ``report.html``."""

from __future__ import annotations

import os
import stat
import zipfile

import numpy as np
import pytest

from edgevision.artifacts import load_artifact, save_model
from edgevision.compress.distill.cache import TeacherCache
from edgevision.data.detection import extracted
from edgevision.models import build_model
from edgevision.utils.io import write_bytes, write_json, write_text


def mode(p) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


@pytest.fixture(params=[0o022, 0o027, 0o002])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def test_current_umask_reads_without_changing(umask):
    from edgevision.utils.io import current_umask

    assert current_umask() == umask and current_umask() == umask


def test_atomic_files_honour_the_umask(umask, tmp_path):
    plain = tmp_path / "plain"
    plain.write_bytes(b"x")  # what the user's umask gives an ordinary file
    for p in (write_bytes(tmp_path / "a.bin", b"1"), write_text(tmp_path / "r.html", "<p>"),
              write_json(tmp_path / "card.json", {})):
        assert mode(p) == mode(plain) == 0o666 & ~umask, p


def test_model_file_is_readable_by_others_under_umask_022(tmp_path):
    old = os.umask(0o022)
    try:
        path = save_model(tmp_path / "model.pt", build_model("lenet5"), task={"name": "classification"},
                          preprocess={"input_size": [32, 32], "channels": 1, "mean": [0.5], "std": [0.5]})
    finally:
        os.umask(old)
    assert mode(path) == 0o644 and load_artifact(path).arch.name == "lenet5"


def test_atomic_folders_honour_the_umask(umask, tmp_path, monkeypatch):
    cache = TeacherCache(tmp_path / "cache" / "entry")
    cache._write(np.arange(3), np.zeros((3, 2), np.float32), {"format": "test"})
    assert mode(cache.path) == 0o777 & ~umask and mode(cache.path / "logits.npy") == 0o666 & ~umask
    zpath = tmp_path / "d.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        z.writestr("images/a.txt", "hi")
    monkeypatch.setenv("EDGEVISION_CACHE", str(tmp_path / "ev-cache"))
    assert mode(extracted(zpath)) == 0o777 & ~umask
