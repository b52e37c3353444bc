"""Person-presence sets from detection labels: crop labelling, image-level splits without leakage, readers."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import require_data
from edgevision.data import DataConfig, load_data
from edgevision.data import presence as pres
from edgevision.data.coco128 import yolo_person_boxes
from edgevision.data.pennfudan import parse_annotation
from edgevision.data.persons import PersonImage
from edgevision.errors import DataError

OPT = pres.PresenceOptions()


def test_crop_label_rules():
    boxes = np.array([[10, 10, 30, 70]], np.float32)  # a 20×60 person
    assert pres.crop_label(boxes, np.array([0, 0, 80, 80]), OPT) == 1  # whole person, 60/80 of the height
    assert pres.crop_label(boxes, np.array([0, 0, 400, 400]), OPT) is None  # inside, but too small: ambiguous
    assert pres.crop_label(boxes, np.array([40, 0, 100, 60]), OPT) == 0  # no overlap
    assert pres.crop_label(boxes, np.array([20, 0, 80, 60]), OPT) is None  # half a person: ambiguous
    assert pres.crop_label(np.zeros((0, 4), np.float32), np.array([0, 0, 5, 5]), OPT) == 0


def test_split_images_is_deterministic_stratified_and_disjoint():
    strata = np.array(["a:1"] * 50 + ["b:0"] * 30)
    s1, s2 = pres.split_images(strata, (0.2, 0.2), 7), pres.split_images(strata, (0.2, 0.2), 7)
    assert (s1 == s2).all()
    assert not (s1 == pres.split_images(strata, (0.2, 0.2), 8)).all()
    for k, n_a, n_b in ((1, 10, 6), (2, 10, 6)):
        assert ((s1 == k) & (strata == "a:1")).sum() == n_a and ((s1 == k) & (strata == "b:0")).sum() == n_b


def _fake_images() -> list[PersonImage]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(30):
        img = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
        boxes = np.array([[40, 10, 80, 110]], np.float32) if i % 3 else np.zeros((0, 4), np.float32)
        out.append(PersonImage(f"fake/{i:03d}", img, boxes))
    return out


@pytest.fixture
def fake_source(monkeypatch, tmp_path):
    archive = tmp_path / "fake.zip"
    archive.write_bytes(b"stamp")
    monkeypatch.setitem(pres.READERS, "fake", ("fake", "fake.zip", lambda path: _fake_images()))
    monkeypatch.setattr(pres, "require_dataset", lambda name: tmp_path)
    pres._build.cache_clear()
    yield "presence:fake"
    pres._build.cache_clear()


def test_no_image_in_two_splits_and_deterministic(fake_source):
    cfg = DataConfig(source=fake_source, input_size=32, val_fraction=0.2, test_fraction=0.2)
    a = load_data(cfg)
    images = {name: set((a.split(name).ids // pres.IDS_PER_IMAGE).tolist()) for name in ("train", "val", "test")}
    assert not (images["train"] & images["val"]) and not (images["train"] & images["test"])
    assert not (images["val"] & images["test"])
    assert sum(len(v) for v in images.values()) == 30
    assert a.class_names == ["no_person", "person"] and a.input_size == (32, 32)
    for name in ("train", "val", "test"):
        assert set(a.split(name).targets["label"].tolist()) == {0, 1}  # both classes in every split
    pres._build.cache_clear()
    b = load_data(cfg)
    assert (a.train.ids == b.train.ids).all() and (a.train.images == b.train.images).all()
    assert a.train.fingerprint == b.train.fingerprint != a.val.fingerprint


def test_options_and_source_errors(fake_source):
    with pytest.raises(Exception, match=r"data.options.crops"):
        load_data(DataConfig(source=fake_source, options={"crops": 3}))
    with pytest.raises(DataError, match="unknown detection source 'voc'"):
        load_data(DataConfig(source="presence:voc"))
    with pytest.raises(DataError, match="classification labels"):
        load_data(DataConfig(source=fake_source), "segmentation")
    grey = load_data(DataConfig(source=fake_source, input_size=24, channels=1))
    assert grey.train.images.shape[1:] == (1, 24, 24)


def test_pennfudan_annotation_parser():
    text = ('Bounding box for object 1 "PASpersonWalking" (Xmin, Ymin) - (Xmax, Ymax) : (160, 182) - (302, 431)\n'
            'Bounding box for object 2 "PASpersonWalking" (Xmin, Ymin) - (Xmax, Ymax) : (420, 171) - (535, 486)\n')
    assert parse_annotation(text, "t.txt").tolist() == [[159, 181, 302, 431], [419, 170, 535, 486]]


def test_yolo_person_boxes():
    text = "0 0.5 0.5 0.2 0.4\n3 0.1 0.1 0.1 0.1\n0 0.25 0.75 0.1 0.1\n"
    b = yolo_person_boxes(text, 200, 100)
    assert np.allclose(b, [[80, 30, 120, 70], [40, 70, 60, 80]])
    assert yolo_person_boxes("", 10, 10).shape == (0, 4)


@pytest.mark.data
@pytest.mark.slow
def test_real_presence_set_from_pennfudan_and_coco128():
    require_data("penn_fudan_ped")
    require_data("coco128")
    s = load_data(DataConfig(source="presence:pennfudan+coco128", input_size=48, val_fraction=0.15,
                             test_fraction=0.25))
    assert s.info["images"] == {"train": 179, "val": 45, "test": 74}  # 170 Penn-Fudan + 128 COCO128 images
    images = [set((s.split(n).ids // pres.IDS_PER_IMAGE).tolist()) for n in ("train", "val", "test")]
    assert not (images[0] & images[1]) and not (images[0] & images[2]) and not (images[1] & images[2])
    for name, (neg, pos) in s.info["label_counts"].items():
        assert min(neg, pos) > 0.35 * (neg + pos), name  # roughly balanced in every split
    keys = s.info["image_keys"]
    assert sum(k.startswith("pennfudan/") for k in keys) == 170 and sum(k.startswith("coco128/") for k in keys) == 128
