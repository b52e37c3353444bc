"""YOLO readers report label files without an image and images without a label file, once, with names."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from conftest import require_data
from edgevision.data.sources import DataConfig, load_data


def _yolo(root):
    """images/train/{0..4}.jpg; labels/train/ lacks 3.txt and has two orphans 7.txt and 8.txt."""
    for i in range(5):
        (root / "images" / "train").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "images" / "train" / f"{i}.jpg"), np.full((16, 16, 3), 40 * i, np.uint8))
    (root / "labels" / "train").mkdir(parents=True)
    for i in (0, 1, 2, 4, 7, 8):
        (root / "labels" / "train" / f"{i}.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    (root / "classes.txt").write_text("thing\n")
    return root


def _load(source):
    return load_data(DataConfig(source=source, input_size=16, val_fraction=0.2, test_fraction=0.2), "detection")


def test_orphans_are_reported_once_with_counts_and_names(tmp_path, capsys):
    root = _yolo(tmp_path / "ds")
    s = _load(f"yolo:{root}")
    assert len(s.train) + len(s.val) + len(s.test) == 5  # the image without a label still counts (no objects)
    err = " ".join(capsys.readouterr().err.split())
    assert "2 label file(s) without an image (7.txt, 8.txt)" in err
    assert "1 image(s) without a label file (3.jpg; read as images with no objects)" in err
    assert err.count("warning:") == 1
    _load(f"yolo:{root}")
    assert "without" not in capsys.readouterr().err  # once per folder and process


def test_a_clean_folder_says_nothing(tmp_path, capsys):
    root = _yolo(tmp_path / "ds")
    for i in (7, 8):
        (root / "labels" / "train" / f"{i}.txt").unlink()
    (root / "labels" / "train" / "3.txt").write_text("")
    _load(f"yolo:{root}")
    assert "warning" not in capsys.readouterr().err


@pytest.mark.data
def test_coco128_orphans(capsys, monkeypatch):
    require_data("coco128")
    monkeypatch.setattr("edgevision.data.yolo._reported", set())  # once per process: an earlier test may have read it
    _load("yolo:coco128")
    err = " ".join(capsys.readouterr().err.split())
    assert "2 label file(s) without an image (000000000656.txt, 000000000659.txt)" in err
    assert "2 image(s) without a label file (000000000250.jpg, 000000000508.jpg" in err
    from edgevision.data.coco128 import read_coco128
    from edgevision.data.paths import find_dataset

    read_coco128(find_dataset("coco128") / "coco128.zip")
    err = " ".join(capsys.readouterr().err.split())
    assert "coco128" in err and "000000000656.txt" in err and "000000000250.jpg" in err
