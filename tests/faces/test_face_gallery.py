"""The SQLite gallery: round trip, literal names, re-enrolment, deletion, refusal of a mismatched model."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
from face_fixtures import drawn_face, face_artifact, write_image

from edgevision.errors import ArtifactError, DataError
from edgevision.faces import (
    DetectorConfig,
    Gallery,
    delete,
    enroll,
    identify,
    list_gallery,
    match,
    recognize_faces,
    verify,
)


def _unit(rng, n, d=8):
    x = rng.normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_gallery_add_load_delete(tmp_path):
    rng = np.random.default_rng(0)
    with Gallery(tmp_path / "g.db", "m1", 8, "face_cnn") as g:
        assert g.add("alice", _unit(rng, 2)) == 2
        g.add("bob", _unit(rng, 1))
        g.add("alice", _unit(rng, 1))  # re-enrolling appends
        assert g.names() == {"alice": 3, "bob": 1}
        names, emb = g.load()
        assert names.count("alice") == 3 and emb.shape == (4, 8) and emb.dtype == np.float32
        assert g.delete("alice") == 3 and g.delete("alice") == 0
        assert g.names() == {"bob": 1}


def test_injection_style_names_are_stored_literally(tmp_path):
    evil = ["x'); DROP TABLE faces; --", 'Robert"; DELETE FROM meta; --', "../../etc/passwd", "名前 🙂", "%_*"]
    rng = np.random.default_rng(1)
    with Gallery(tmp_path / "g.db", "m1", 8) as g:
        for n in evil:
            g.add(n, _unit(rng, 1))
        assert sorted(g.names()) == sorted(evil)
        assert g.meta()["model_id"] == "m1"  # the meta table survived
        assert g.delete("%_*") == 1 and len(g.names()) == len(evil) - 1  # no LIKE/glob semantics
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.db"]  # a name is never a path


def test_mismatched_model_is_refused(tmp_path):
    Gallery(tmp_path / "g.db", "model-a", 8, "face_cnn").close()
    with pytest.raises(ArtifactError, match="enrolled with model"):
        Gallery(tmp_path / "g.db", "model-b", 8)
    with pytest.raises(ArtifactError, match="enrolled with model"):
        Gallery(tmp_path / "g.db", "model-a", 16)


def test_not_a_gallery_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(ArtifactError, match="not a readable SQLite gallery"):
        Gallery(bad, "m", 8)
    with pytest.raises(Exception, match="no such file"):
        Gallery(tmp_path / "missing.db", "m", 8, create=False)


def test_match_ranks_by_best_embedding_per_name():
    g = np.eye(4, dtype=np.float32)
    names = ["a", "a", "b", "c"]
    q = np.array([[0.1, 0.9, 0.3, 0.0]], np.float32)
    ranked = match(q, names, g, k=2)[0]
    assert ranked[0] == ("a", pytest.approx(0.9)) and ranked[1] == ("b", pytest.approx(0.3))
    assert match(q, [], np.zeros((0, 4), np.float32)) == [[]]


def test_round_trip_through_the_public_functions(tmp_path):
    art = face_artifact(tmp_path / "face.pt")
    img = write_image(tmp_path / "face.png", drawn_face())
    other = write_image(tmp_path / "other.png", drawn_face(shift=25))
    blank = write_image(tmp_path / "blank.png", np.full((100, 100), 90, np.uint8))
    db = tmp_path / "faces.db"
    det = DetectorConfig(scale_factor=1.1, detect_width=None, min_size=30)  # the cartoon needs a finer pyramid
    r = enroll(db, "Ada O'Lovelace", [img, blank], artifact=art, detector=det)
    assert r["added"] == 1 and r["skipped"] == [{"file": str(blank), "reason": "no face found"}]
    enroll(db, "Ada O'Lovelace", [img], artifact=art, detector=det)
    enroll(db, "Bob", [other], artifact=art, threshold=0.2, detector=det)
    assert list_gallery(db)["names"] == {"Ada O'Lovelace": 2, "Bob": 1}
    rows = identify(db, [img, blank], k=2, detector=det)  # the artifact is found in the gallery
    assert rows[0]["name"] == "Ada O'Lovelace" and rows[0]["score"] == pytest.approx(1.0, abs=1e-5)
    assert rows[0]["ranked"][1]["name"] == "Bob" and rows[1]["error"] == "no face found"
    faces = recognize_faces(np.stack([drawn_face()] * 3, -1), art, db, detector=det)
    assert len(faces) == 1 and faces[0][1] == "Ada O'Lovelace" and len(faces[0][0]) == 4
    assert recognize_faces(np.stack([drawn_face()] * 3, -1), art, db, threshold=1.01, detector=det)[0][1] == "unknown"
    v = verify(img, img, art, threshold=0.99, detector=det)
    assert v["same"] and v["score"] == pytest.approx(1.0, abs=1e-5)
    assert delete(db, "Bob")["removed"] == 1
    with pytest.raises(DataError, match="no one named"):
        delete(db, "Bob")
    with pytest.raises(DataError, match="no face found in any"):
        enroll(db, "Nobody", [blank], detector=det)
    other_model = face_artifact(tmp_path / "other.pt", seed=1)
    with pytest.raises(ArtifactError, match="enrolled with model"):
        identify(db, [img], artifact=other_model, detector=det)
    con = sqlite3.connect(db)
    assert con.execute("SELECT COUNT(*) FROM faces").fetchone()[0] == 2  # nothing lost by the refused call
    con.close()


def test_cli_faces_verbs(tmp_path, capsys):
    from edgevision.cli import main

    art = face_artifact(tmp_path / "face.pt")
    img = write_image(tmp_path / "face.png", drawn_face())
    db = tmp_path / "f.db"
    assert main(["faces", "enroll", "--db", str(db), "--artifact", str(art), "--name", "Zoë; DROP", str(img),
                 "--no-detect"]) == 0
    capsys.readouterr()
    assert main(["faces", "identify", "--db", str(db), str(img), "--json", "--no-detect"]) == 0
    assert __import__("json").loads(capsys.readouterr().out)[0]["name"] == "Zoë; DROP"
    assert main(["faces", "delete", "--db", str(db), "--name", "nobody"]) == 2
    assert "no one named" in capsys.readouterr().err
    assert main(["faces", "identify", "--db", str(tmp_path / "none.db"), str(img)]) == 2


def test_cli_detector_options_reach_the_detector(tmp_path, capsys):
    """``--detector.*`` flags arrive as a mapping and are checked like the config (they used to crash)."""
    from edgevision.cli import main

    art = face_artifact(tmp_path / "face.pt")
    img = write_image(tmp_path / "face.png", drawn_face())
    db = tmp_path / "f.db"
    assert main(["faces", "enroll", "--db", str(db), "--artifact", str(art), "--name", "a", str(img), "--no-detect",
                 "--detector.min-size", "30"]) == 0
    assert main(["faces", "identify", "--db", str(db), str(img), "--no-detect", "--detector.scale-factor", "1.1"]) == 0
    capsys.readouterr()
    assert main(["faces", "identify", "--db", str(db), str(img), "--detector.scale-factor", "0.5"]) == 2
    assert "scale_factor" in capsys.readouterr().err
