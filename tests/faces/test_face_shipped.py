"""The shipped face embedder as the gallery verbs' default: a new gallery stores its calibrated threshold, the
verbs agree on it, and a gallery of another embedder is refused in one line with nothing written."""

from __future__ import annotations

import json

import pytest
from face_fixtures import drawn_face, face_artifact, write_image

from edgevision import shipped
from edgevision.cli import main
from edgevision.errors import DataError
from edgevision.faces import api, enroll, identify, list_gallery, verify
from edgevision.faces.recognize import SHIPPED, recognizer

CALIBRATION = {"far": 0.01, "threshold": 0.8123, "source": "LFW peopleDevTest impostors",
               "thresholds": {"0.01": 0.8123, "0.001": 0.8765}}


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    """An untrained face_cnn packed as .evz: what the shipped file is."""
    import edgevision as ev

    root = tmp_path_factory.mktemp("face-shipped")
    return ev.pack(face_artifact(root / "face.pt"), out=root / "pack").artifact


@pytest.fixture
def folder(tmp_path, packed, monkeypatch):
    """A shipped folder holding ``face-embedder`` with a calibration and a framing in its card."""
    d = tmp_path / "pretrained"
    d.mkdir()
    (d / f"{SHIPPED}.evz").write_bytes(packed.read_bytes())
    card = {"name": SHIPPED, "summary": "faces", "task": "face", "face_calibration": CALIBRATION,
            "face_detector": {"margin": 0.116}}
    (d / f"{SHIPPED}.card.json").write_text(json.dumps(card))
    monkeypatch.setattr(shipped, "folder", lambda: d)
    return d


def test_new_gallery_uses_the_shipped_embedder_and_its_threshold(folder, tmp_path, capsys):
    img = write_image(tmp_path / "face.png", drawn_face())
    db = tmp_path / "new.db"
    enroll(db, "Ada", [img], detect=False)
    meta = list_gallery(db)["meta"]
    assert meta["artifact"] == SHIPPED and meta["model_name"] == "face_cnn"
    assert meta["threshold"] == "0.8123" and "FAR 0.01" in meta["threshold_basis"]
    assert identify(db, [img], detect=False)[0]["threshold"] == 0.8123
    assert identify(db, [img], detect=False)[0]["name"] == "Ada"  # the same image scores cosine 1
    assert verify(img, img, detect=False)["threshold"] == 0.8123 and verify(img, img, detect=False)["same"]
    assert main(["faces", "list", "--db", str(db)]) == 0
    assert "threshold 0.8123 (FAR 0.01 on LFW peopleDevTest impostors)" in capsys.readouterr().out
    assert recognizer(SHIPPED).detector.margin == 0.116  # the card's framing (LFW's crop) when no options are given
    assert recognizer(SHIPPED, {"margin": 0.3}).detector.margin == 0.3


def test_detector_flags_reach_enroll_and_identify(folder, tmp_path, capsys):
    img = write_image(tmp_path / "face.png", drawn_face())
    db = tmp_path / "g.db"
    flags = ["--detector.scale-factor", "1.1", "--detector.min-size", "30", "--detector.detect-width", "320"]
    assert main(["faces", "enroll", "--db", str(db), "--name", "Ada", str(img)]) == 2  # the defaults miss it
    assert "no face found" in capsys.readouterr().err and not db.exists()
    assert main(["faces", "enroll", "--db", str(db), "--name", "Ada", str(img), *flags]) == 0
    assert main(["faces", "identify", "--db", str(db), str(img)]) == 0
    assert "no face found" in capsys.readouterr().out
    assert main(["faces", "identify", "--db", str(db), str(img), "--set", "detector.scale_factor=1.1",
                 "--set", "detector.min_size=30", "--set", "detector.detect_width=320"]) == 0
    assert ": Ada 1.000" in capsys.readouterr().out
    assert main(["faces", "identify", "--db", str(db), str(img), "--detector.min-size", "bad"]) == 2


def test_gallery_of_another_embedder_is_one_line_and_untouched(folder, tmp_path, capsys):
    img = write_image(tmp_path / "face.png", drawn_face())
    db = tmp_path / "g.db"
    enroll(db, "Ada", [img], detect=False)
    before = db.read_bytes()
    other = face_artifact(tmp_path / "other.pt", seed=1)
    for argv in (["faces", "enroll", "--db", str(db), "--name", "Bob", "--artifact", str(other), "--no-detect",
                  str(img)],
                 ["faces", "identify", "--db", str(db), "--artifact", str(other), "--no-detect", str(img)]):
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "enrolled with model face_cnn" in err and "Traceback" not in err
        assert db.read_bytes() == before


def test_without_a_shipped_embedder_the_default_falls_back(tmp_path, monkeypatch):
    monkeypatch.setattr(shipped, "folder", lambda: tmp_path / "none")
    monkeypatch.setattr(api, "dlib_available", lambda: True)
    assert api.default_embedder("x") == "dlib-face"
    monkeypatch.setattr(api, "dlib_available", lambda: False)
    with pytest.raises(DataError, match=f"ships no {SHIPPED}"):
        api.default_embedder("new gallery g.db")


@pytest.mark.skipif(shipped.path(SHIPPED) is None, reason=f"this checkout ships no {SHIPPED}")
@pytest.mark.data
def test_the_shipped_embedder_tells_new_people_apart():
    """The real shipped file on LFW peopleDevTest people (never trained on): each probe's best match among eight
    people's enrolment images is mostly the right person, at the input framing the card states."""
    import numpy as np

    from conftest import require_data
    from edgevision.faces.lfw import archive, load_faces

    root = require_data("lfw_deepfunneled")
    card = shipped.card(SHIPPED)
    cal = card["face_calibration"]
    assert cal["far"] == 0.01 and set(cal["thresholds"]) == {"0.01", "0.001"}
    assert cal["thresholds"]["0.001"] >= cal["threshold"] == cal["thresholds"]["0.01"]
    rec = recognizer(SHIPPED)
    arc = archive(str(root))
    people = [n for n in arc.people("devtest") if arc.counts()[n] >= 4][:8]
    keys = [(n, k) for n in people for k in (1, 2, 3, 4)]
    emb = rec.embed(load_faces(root, keys, rec.size, 0.56, 3))
    gal, probes = emb[[i for i in range(len(keys)) if i % 4 < 3]], emb[3::4]
    best = np.argmax(probes @ gal.T, 1) // 3
    assert (best == np.arange(len(people))).sum() >= 5  # chance: 1 of 8
