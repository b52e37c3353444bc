"""Haar detection, margins, alignment, and the no-face path."""

from __future__ import annotations

import numpy as np
import pytest
from face_fixtures import drawn_face

from edgevision.errors import ConfigError
from edgevision.faces.detect import DetectorConfig, crop_faces, detect_and_crop, detect_faces, expand


@pytest.mark.parametrize("cascade", ["default", "alt2"])
def test_detects_a_drawn_face(cascade):
    cfg = DetectorConfig(cascade=cascade, detect_width=None, min_size=30, scale_factor=1.1)
    boxes = detect_faces(drawn_face(), cfg)
    assert len(boxes) == 1
    x0, y0, x1, y1 = boxes[0]
    # the box covers the drawn head (centre 160, 125) and is roughly its size
    assert x0 < 160 < x1 and y0 < 125 < y1 and 100 < x1 - x0 < 220


def test_detection_on_downscaled_frame_maps_boxes_back():
    big = np.kron(drawn_face(), np.ones((2, 2), np.uint8))  # 480×640
    full = detect_faces(big, DetectorConfig(detect_width=None, min_size=60, scale_factor=1.1))
    small = detect_faces(big, DetectorConfig(detect_width=320, min_size=60, scale_factor=1.1))
    assert len(full) == len(small) == 1
    assert np.abs(full[0] - small[0]).max() < 30  # same face, same place, in full-resolution pixels


def test_no_face_is_an_empty_result_not_an_error():
    blank = np.full((120, 160), 128, np.uint8)
    boxes, crops = detect_and_crop(blank, (32, 32))
    assert boxes.shape == (0, 4) and crops.shape == (0, 32, 32)
    headless = drawn_face(eyes=False)
    headless[:] = 200  # nothing face-like left
    assert len(detect_faces(headless)) == 0


def test_margin_expands_and_clips():
    out = expand(np.array([[10, 10, 50, 90]]), 0.25, (100, 55))
    np.testing.assert_array_equal(out, [[0, 0, 55, 100]])
    out = expand(np.array([[40, 40, 60, 60]]), 0.5, (200, 200))
    np.testing.assert_array_equal(out, [[30, 30, 70, 70]])


def test_eye_line_angle():
    from edgevision.faces.detect import eye_line_angle

    level = np.array([[20, 30, 10, 10], [60, 30, 10, 10]], float)
    assert eye_line_angle(level, 100) == pytest.approx(0.0)
    tilted = np.array([[60, 40, 10, 10], [20, 30, 10, 10], [5, 5, 2, 2]], float)  # right eye lower; a tiny false eye
    assert eye_line_angle(tilted, 100) == pytest.approx(np.degrees(np.arctan2(10, 40)))
    assert eye_line_angle(level[:1], 100) is None
    assert eye_line_angle(np.array([[20, 30, 10, 10], [22, 31, 10, 10]], float), 100) is None  # one eye twice


def test_alignment_rotates_by_the_eye_angle(monkeypatch):
    import edgevision.faces.detect as det

    face = np.zeros((60, 60), np.uint8)
    face[28:32, 10:50] = 255  # a horizontal bar through the centre
    monkeypatch.setattr(det, "eye_angle", lambda f: 90.0)
    rotated, ang = det.align(face)
    assert ang == 90.0 and rotated[10:50, 28:32].mean() > 100  # the bar is now vertical
    monkeypatch.setattr(det, "eye_angle", lambda f: None)
    same, ang = det.align(face)
    assert ang == 0.0 and same is face
    crops = crop_faces(drawn_face(), np.array([[80, 40, 240, 210]]), (24, 20), DetectorConfig(align=True))
    assert crops.shape == (1, 24, 20) and crops.dtype == np.uint8


def test_bad_cascade_name_is_a_config_error():
    from edgevision.faces.detect import cascade

    with pytest.raises(ConfigError, match="cascade"):
        cascade("nope")
