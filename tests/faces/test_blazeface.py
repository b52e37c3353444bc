"""BlazeFace as a face detector choice: anchors, the vectorized decode and NMS (always), and the model on ORL
faces and a blank frame (with ai-edge-litert and mediapipe 0.10.21's files; make test-extras)."""

from __future__ import annotations

import importlib.util
import zipfile

import cv2
import numpy as np
import pytest

from conftest import require_data
from edgevision.configs.faces import DetectorConfig
from edgevision.faces.blazeface import SIZE, anchors, decode, nms
from edgevision.faces.detect import detect_faces

HAVE_MODEL = importlib.util.find_spec("ai_edge_litert") is not None and importlib.util.find_spec("mediapipe") \
    is not None
needs_model = pytest.mark.skipif(not HAVE_MODEL, reason="needs ai-edge-litert (the [teachers] extra) and "
                                 "pip install --no-deps mediapipe==0.10.21 (make test-extras)")


def test_anchors_follow_mediapipes_short_range_layout():
    a = anchors()
    assert a.shape == (896, 2)
    assert np.allclose(a[0], a[1]) and np.allclose(a[0], [1 / 32, 1 / 32])  # 16² grid, 2 per cell
    assert np.allclose(a[511], [31 / 32, 31 / 32]) and np.allclose(a[512:518], 1 / 16)  # 8² grid, 6 per cell
    assert np.allclose(a[-1], [15 / 16, 15 / 16])


def test_decode_and_nms():
    a = np.array([[0.5, 0.5], [0.5, 0.5], [0.2, 0.2]], np.float32)
    reg = np.zeros((3, 16), np.float32)
    reg[:, 2:4] = 0.5 * SIZE  # boxes of half the input's side
    reg[1, 0] = 0.05 * SIZE  # shifted right by 0.05: IoU with box 0 ≈ 0.82
    boxes, p = decode(reg, np.array([2.0, 1.0, 500.0], np.float32), a)
    assert np.allclose(boxes[0], [0.25, 0.25, 0.75, 0.75]) and np.allclose(boxes[1, 0], 0.30)
    assert p[2] == pytest.approx(1.0) and p[0] == pytest.approx(1 / (1 + np.exp(-2)))
    assert nms(boxes, p, 0.3).tolist() == [2, 0]  # box 1 overlaps box 0; box 2 barely touches box 0
    assert nms(boxes, p, 0.9).tolist() == [2, 0, 1]


@needs_model
def test_blazeface_finds_orl_faces_and_nothing_on_a_blank_frame():
    root = require_data("orl_faces")
    cfg = DetectorConfig(detector="blazeface")
    with zipfile.ZipFile(root / "orl_faces.zip") as z:
        names = sorted(n for n in z.namelist() if n.endswith(".pgm"))[::40]  # 10 people
        images = [cv2.imdecode(np.frombuffer(z.read(n), np.uint8), cv2.IMREAD_GRAYSCALE) for n in names]
    for g in images:
        boxes = detect_faces(g, cfg)
        assert len(boxes) >= 1
        x0, y0, x1, y1 = boxes[0]
        assert 0 <= x0 < x1 <= g.shape[1] and 0 <= y0 < y1 <= g.shape[0] and (x1 - x0) > g.shape[1] / 3
    assert len(detect_faces(np.full((120, 160), 128, np.uint8), cfg)) == 0


def test_unknown_detector_is_refused():
    with pytest.raises(ValueError, match="haar"):
        DetectorConfig(detector="hog")
