"""The faces verbs take ``--threads`` (torch and OpenCV threads while embedding), like every verb that computes."""

from __future__ import annotations

import torch
from face_fixtures import drawn_face, face_artifact, write_image

from edgevision.cli import main


def test_faces_verbs_take_threads(tmp_path, monkeypatch, capsys):
    import edgevision.faces.api as api

    seen = []
    embed = api.embed_files

    def spy(*a, **k):
        seen.append(torch.get_num_threads())
        return embed(*a, **k)

    monkeypatch.setattr(api, "embed_files", spy)
    art = face_artifact(tmp_path / "face.pt")
    img = write_image(tmp_path / "face.png", drawn_face())
    db = tmp_path / "f.db"
    assert main(["faces", "enroll", "--db", str(db), "--artifact", str(art), "--name", "Ada", str(img),
                 "--no-detect", "--threads", "1"]) == 0
    assert main(["faces", "identify", "--db", str(db), str(img), "--no-detect", "--threads", "1"]) == 0
    assert main(["faces", "verify", "--artifact", str(art), str(img), str(img), "--no-detect", "--threads", "1"]) == 0
    assert seen == [1, 1, 1]
