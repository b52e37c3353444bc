"""`edgevision demo` on a face model: the face pipeline plugs into the demo's registry."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from face_fixtures import drawn_face, face_artifact, write_image

from edgevision.errors import ConfigError
from edgevision.faces import DetectorConfig, enroll


def test_demo_folder_names_the_enrolled_face(tmp_path):
    import edgevision as ev

    art = face_artifact(tmp_path / "face.pt")
    det = DetectorConfig(scale_factor=1.1, detect_width=None, min_size=30)
    img = write_image(tmp_path / "enroll.png", drawn_face())
    db = tmp_path / "faces.db"
    enroll(db, "Ada", [img], artifact=art, threshold=0.5, detector=det)
    frames = tmp_path / "frames"
    frames.mkdir()
    write_image(frames / "a.png", np.stack([drawn_face()] * 3, -1))
    write_image(frames / "b.png", np.full((240, 320, 3), 90, np.uint8))  # no face: reported, never a crash
    res = ev.demo(art, frames, out=tmp_path / "out", headless=True, gallery=str(db),
                  face_detector={"scale_factor": 1.1, "detect_width": None, "min_size": 30})
    with open(tmp_path / "out" / "predictions.csv") as f:
        rows = {r["file"].split("/")[-1]: r for r in csv.DictReader(f)}
    assert rows["a.png"]["label"] == "Ada" and float(rows["a.png"]["score"]) > 0.5
    assert rows["b.png"]["count"] == "0"
    assert res.card["metrics"]["frames"] == 2
    assert "recognize" in json.loads((tmp_path / "out" / "summary.json").read_text())["stages"]


def test_demo_of_a_face_model_needs_a_gallery(tmp_path):
    import edgevision as ev

    art = face_artifact(tmp_path / "face.pt")
    frames = tmp_path / "frames"
    frames.mkdir()
    write_image(frames / "a.png", np.full((64, 64, 3), 90, np.uint8))
    with pytest.raises(ConfigError, match="--gallery"):
        ev.demo(art, frames, out=tmp_path / "out", headless=True)
    with pytest.raises(ConfigError, match="face_detector: min_size"):
        ev.demo(art, frames, out=tmp_path / "out2", headless=True, gallery="g.db", face_detector={"min_size": "x"})
