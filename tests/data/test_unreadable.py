"""Unreadable files are counted and named for every split: a warning line per split (first 10 names), all of them
in the run folder's ``skipped.txt``, per-split counts and used sizes in the card, and ``eval`` says so too."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

import edgevision
from edgevision.cli import main
from edgevision.data.detection import DetectionDataset, DetectionRecord, materialize
from edgevision.data.unreadable import unreadable, used

BAD = {"train": ["cat/bad_train.png"], "val": ["dog/bad_val.jpg"], "test": [f"cat/bad_test_{k}.png" for k in range(12)]}


@pytest.fixture
def folder(tmp_path):
    """root/{train,val,test}/{cat,dog}/ with good images plus the BAD files (12 in test: more than are shown)."""
    rng = np.random.default_rng(0)
    root = tmp_path / "data"
    for split, n in (("train", 8), ("val", 3), ("test", 3)):
        for c in ("cat", "dog"):
            (root / split / c).mkdir(parents=True)
            for i in range(n):
                cv2.imwrite(str(root / split / c / f"{i}.png"), rng.integers(0, 255, (12, 12, 3), dtype=np.uint8))
        for name in BAD[split]:
            (root / split / name).write_bytes(b"not an image")
    return root


def _train(folder, out, workers=0):
    return edgevision.train(model="student_cnn", model_kwargs={"width": 8, "depth": 2}, epochs=2, batch_size=4,
                            data={"source": str(folder), "input_size": 12, "num_workers": workers}, out=out)


@pytest.mark.parametrize("workers", [0, 1])
def test_train_names_unreadable_files_of_every_split(folder, tmp_path, capsys, workers):
    res = _train(folder, tmp_path / "t", workers)
    err = " ".join(capsys.readouterr().err.split())
    assert "1 unreadable file skipped in the train split:" in err and "bad_train.png" in err
    assert "1 unreadable file skipped in the val split:" in err and "bad_val.jpg" in err
    assert "12 unreadable files skipped in the test split:" in err and "(+2 more; all in skipped.txt)" in err
    assert err.count("bad_train.png") == 1  # once, not every epoch
    card = res.card
    assert card["unreadable"] == {"train": 1, "val": 1, "test": 12}
    assert card["samples"] == {"train": 16, "val": 6, "test": 6} and card["train_samples"] == 16
    listed = (tmp_path / "t" / "skipped.txt").read_text().splitlines()
    assert len(listed) == 14 and sum(line.startswith("test\t") for line in listed) == 12
    assert f"val\t{folder / 'val' / 'dog' / 'bad_val.jpg'}" in listed


def test_eval_reports_the_unreadable_files(folder, tmp_path, capsys):
    _train(folder, tmp_path / "t")
    capsys.readouterr()
    res = edgevision.evaluate(tmp_path / "t", out=tmp_path / "e")
    err = " ".join(capsys.readouterr().err.split())
    assert "12 unreadable files skipped in the test split:" in err and "(n=6;" in err and "skipped.txt" in err
    assert res.card["unreadable"] == {"test": 12} and res.card["samples"] == {"test": 6}
    assert json.loads((tmp_path / "e" / "eval.json").read_text())["n"] == 6
    assert len((tmp_path / "e" / "skipped.txt").read_text().splitlines()) == 12


def test_decoded_up_front_datasets_record_what_they_dropped(tmp_path):
    good = tmp_path / "good.png"
    cv2.imwrite(str(good), np.zeros((8, 8, 3), np.uint8))
    box = np.array([[0.1, 0.1, 0.9, 0.9]], np.float32)
    recs = [DetectionRecord(good, box, np.zeros(1, np.int64), 0),
            DetectionRecord(tmp_path / "gone.jpg", box, np.zeros(1, np.int64), 1)]
    ds = materialize(DetectionDataset(recs, ["a"], (8, 8), 3, "fp"))
    assert len(ds) == 1 and list(unreadable(ds)) == [str(tmp_path / "gone.jpg")] and used(ds) == 1


def test_predict_keeps_relative_paths_of_same_named_images(tmp_path):
    folder = tmp_path / "imgs"
    for sub, value in (("a", 0), ("b", 200)):
        (folder / sub).mkdir(parents=True)
        cv2.imwrite(str(folder / sub / "x.png"), np.full((12, 12, 3), value, np.uint8))
    cv2.imwrite(str(folder / "a" / "x.jpg"), np.full((12, 12, 3), 90, np.uint8))  # same stem, same folder
    train = edgevision.train(model="student_cnn", model_kwargs={"width": 8, "depth": 2}, epochs=1, batch_size=8,
                             data={"source": "synthetic:shapes", "input_size": 12,
                                   "options": {"num_classes": 2, "n_train": 16, "n_val": 4, "n_test": 4}},
                             out=tmp_path / "t")
    res = edgevision.predict(train.run_dir, [folder], out=tmp_path / "p")
    drawn = {p.relative_to(res.run_dir).as_posix() for p in res.run_dir.rglob("*.png")}
    assert drawn == {"a/x.png.png", "a/x.jpg.png", "b/x.png"}
    rows = [json.loads(x) for x in (res.run_dir / "predictions.jsonl").read_text().splitlines()]
    assert {r["drawing"] for r in rows} == drawn


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return edgevision.train(model="student_cnn", model_kwargs={"width": 4, "depth": 2}, epochs=1, batch_size=8,
                            data={"source": "synthetic:shapes", "input_size": 12,
                                  "options": {"num_classes": 2, "n_train": 8, "n_val": 4, "n_test": 4}},
                            out=tmp_path_factory.mktemp("t") / "t").run_dir


def test_predict_on_a_folder_of_unreadable_images_is_one_line(tmp_path, capsys, tiny_run):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for name in ("a.jpg", "b.png"):
        (folder / name).write_text("not an image")
    rc = main(["predict", str(tiny_run), str(folder), "--out", str(tmp_path / "p")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("error:") and "\n" not in err, err
    assert f"{folder}: no image could be read" in err and "2 files, all unreadable" in err and "a.jpg" in err, err
    assert not (tmp_path / "p").exists()


def test_predict_skips_the_unreadable_images_of_a_mixed_folder(tmp_path, capsys, tiny_run):
    folder = tmp_path / "imgs"
    folder.mkdir()
    cv2.imwrite(str(folder / "good.png"), np.full((12, 12, 3), 90, np.uint8))
    (folder / "bad.jpg").write_text("not an image")
    rc = main(["predict", str(tiny_run), str(folder), "--out", str(tmp_path / "p")])
    err = " ".join(capsys.readouterr().err.split())
    assert rc == 0 and "1 unreadable file skipped in the inputs:" in err and "bad.jpg" in err, err
    rows = [json.loads(x) for x in (tmp_path / "p" / "predictions.jsonl").read_text().splitlines()]
    assert [r["file"] for r in rows] == [str(folder / "good.png")]
    assert (tmp_path / "p" / "skipped.txt").read_text() == f"inputs\t{folder / 'bad.jpg'}\n"
