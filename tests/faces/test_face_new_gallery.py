"""A new gallery as a user meets it: a default embedder, a threshold stored with its basis, one-line refusals."""

from __future__ import annotations

import numpy as np
import pytest
from face_fixtures import drawn_face, face_artifact, write_image

from conftest import require_data
from edgevision import shipped
from edgevision.cli import main
from edgevision.compress.distill import dlib_face as dl
from edgevision.errors import ArtifactError, DataError
from edgevision.faces import api, enroll, identify, list_gallery, verify

needs_dlib = pytest.mark.skipif(not dl.available(), reason='the [teachers] extra is not installed: pip install -e '
                                '".[teachers]"')


def test_new_gallery_without_model_or_extra_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(shipped, "folder", lambda: tmp_path / "no-shipped-models")
    monkeypatch.setattr(api, "dlib_available", lambda: False)
    img = write_image(tmp_path / "face.png", drawn_face())
    with pytest.raises(DataError, match=r"new gallery .*needs a face model: .*pass --artifact .*pip install"):
        enroll(tmp_path / "new.db", "Ada", [img])
    assert main(["faces", "enroll", "--db", str(tmp_path / "new.db"), "--name", "Ada", str(img)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "dlib-face" in err and not (tmp_path / "new.db").exists()
    with pytest.raises(DataError, match="faces verify needs a face model"):
        verify(img, img)


def test_new_gallery_stores_its_threshold_and_basis(tmp_path, capsys):
    art = face_artifact(tmp_path / "face.pt")
    img = write_image(tmp_path / "face.png", drawn_face())
    enroll(tmp_path / "a.db", "Ada", [img], artifact=art, detect=False)
    meta = list_gallery(tmp_path / "a.db")["meta"]
    assert meta["threshold"] == "0.5" and meta["threshold_basis"].startswith("uncalibrated")
    enroll(tmp_path / "a.db", "Bob", [img], detect=False)  # a second enrolment keeps the stored threshold
    assert list_gallery(tmp_path / "a.db")["meta"]["threshold"] == "0.5"
    enroll(tmp_path / "b.db", "Ada", [img], artifact=art, detect=False, threshold=0.7)
    assert list_gallery(tmp_path / "b.db")["meta"]["threshold_basis"] == "set by the user"
    assert main(["faces", "list", "--db", str(tmp_path / "a.db")]) == 0
    assert "threshold 0.5 (uncalibrated" in capsys.readouterr().out
    assert verify(img, img, art, detect=False)["threshold"] == 0.5


@needs_dlib
@pytest.mark.data
def test_dlib_face_gallery_end_to_end(tmp_path, capsys, monkeypatch):
    """Without a shipped embedder, a new gallery falls back to dlib-face."""
    import cv2

    monkeypatch.setattr(shipped, "folder", lambda: tmp_path / "no-shipped-models")
    from edgevision.faces.lfw import load_faces

    root = require_data("lfw_deepfunneled")
    keys = [("Colin_Powell", k) for k in (1, 2, 3)] + [("Serena_Williams", k) for k in (1, 2, 3)]
    files = []
    for (n, k), im in zip(keys, load_faces(root, keys, (200, 200), crop=0.8)):
        files.append(tmp_path / f"{n}_{k}.jpg")
        cv2.imwrite(str(files[-1]), im[..., ::-1])
    db = tmp_path / "faces.db"
    enroll(db, "Colin", files[:2])  # no gallery, no --artifact: dlib-face
    enroll(db, "Serena", files[3:5])
    meta = list_gallery(db)["meta"]
    assert meta["artifact"] == "dlib-face" and float(meta["threshold"]) == dl.CALIBRATION["threshold"]
    assert "FAR 0.01" in meta["threshold_basis"]
    rows = identify(db, [files[2], files[5]])
    assert [r["name"] for r in rows] == ["Colin", "Serena"]
    assert verify(files[2], files[5])["same"] is False and verify(files[0], files[2])["same"] is True
    art = face_artifact(tmp_path / "face.pt")
    assert main(["faces", "identify", "--db", str(db), "--artifact", str(art), str(files[2])]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "enrolled with model dlib-face" in err
    enroll(tmp_path / "cnn.db", "x", [files[0]], artifact=art, detect=False)
    with pytest.raises(ArtifactError, match="enrolled with model face_cnn"):
        enroll(tmp_path / "cnn.db", "y", [files[0]], artifact="dlib-face")
    assert np.isfinite(rows[0]["score"])


def test_colour_model_embeds_colour_crops(tmp_path):
    """A 3-channel face model gets RGB crops (the detector still sees grey), not replicated grey."""
    import torch

    from edgevision.artifacts import save_model
    from edgevision.faces.recognize import FaceRecognizer
    from edgevision.models import build_model

    torch.manual_seed(0)
    m = build_model("face_cnn", num_classes=4, in_channels=3, embed_dim=8, widths=[4, 8, 8, 8], input_size=32).eval()
    pre = {"input_size": [32, 32], "channels": 3, "mean": [0.5] * 3, "std": [0.25] * 3, "scale": 1 / 255}
    art = save_model(tmp_path / "rgb.pt", m, task={"name": "face", "class_names": list("abcd")}, preprocess=pre)
    rgb = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    rec = FaceRecognizer(art)
    _, crops = rec.faces(rgb, "RGB", detect=False)
    assert crops.shape == (1, 32, 32, 3) and np.array_equal(crops[0], rgb)
    x = (torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255 - 0.5) / 0.25
    with torch.inference_mode():
        want = torch.nn.functional.normalize(m.forward_features(x), dim=1).numpy()
    assert np.allclose(rec.embed(crops), want, atol=1e-5)
    assert not np.allclose(rec.embed(crops[..., 0]), want, atol=1e-3)  # grey replicated is not the same input
