"""VOC, COCO and YOLO readers on tiny fixtures written in tmp; malformed files give one-line errors naming them."""

import json

import cv2
import numpy as np
import pytest

from conftest import require_data
from edgevision.data import DataConfig, load_data
from edgevision.data.detection import dataset_boxes
from edgevision.errors import DataError

W, H = 100, 50  # fixture images are 100 wide, 50 high; loaded at input_size [50, 100] boxes keep their pixels


def _image(path, value=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.full((H, W, 3), value, np.uint8)
    cv2.rectangle(img, (10, 5), (50, 25), (255, 255, 255), -1)
    cv2.imwrite(str(path), img)


def _voc_xml(objs, size=True):
    sz = f"<size><width>{W}</width><height>{H}</height><depth>3</depth></size>" if size else ""
    body = "".join(f"<object><name>{n}</name><difficult>{int(d)}</difficult><bndbox><xmin>{b[0]}</xmin>"
                   f"<ymin>{b[1]}</ymin><xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>"
                   for n, b, d in objs)
    return f"<annotation><filename>{{}}</filename>{sz}{body}</annotation>"


def make_voc(root, n=6):
    for i in range(n):
        _image(root / "JPEGImages" / f"im{i}.jpg", 20 * i)
        objs = [("dog", (11, 6, 50, 25), False), ("cat" if i % 2 else "dog", (61, 11, 90, 40), i == 3)]
        (root / "Annotations").mkdir(parents=True, exist_ok=True)
        (root / "Annotations" / f"im{i}.xml").write_text(_voc_xml(objs, size=i != 5).format(f"im{i}.jpg"))
    return root


def cfg(source, **kw):
    return DataConfig(source=source, input_size=(H, W), val_fraction=0.2, test_fraction=0.2, **kw)


def test_voc_reader_boxes_labels_difficult_and_split(tmp_path):
    root = make_voc(tmp_path / "VOCdevkit" / "VOC2007")
    s = load_data(cfg(f"voc:{tmp_path / 'VOCdevkit'}"), "detection")
    assert s.class_names == ["cat", "dog"] and len(s.train) + len(s.val) + len(s.test) == 6
    all_boxes = {int(i): b for ds in (s.train, s.val, s.test) for i, b in zip(ds.ids, dataset_boxes(ds))}
    assert np.allclose(all_boxes[0], [[10, 5, 50, 25], [60, 10, 90, 40]])  # 1-based inclusive → pixel edges
    assert len(all_boxes[3]) == 1  # its second object is difficult and dropped
    assert len(load_data(cfg(f"voc:{root}", options={"difficult": "keep"}), "detection").class_names) == 2
    sample = s.train[0]
    assert sample["image"].shape == (3, H, W) and sample["labels"].dtype.is_floating_point is False
    # ImageSets/Main decides the split when present
    (root / "ImageSets" / "Main").mkdir(parents=True)
    (root / "ImageSets" / "Main" / "train.txt").write_text("im0\nim1\nim2\nim3\n")
    (root / "ImageSets" / "Main" / "val.txt").write_text("im4\n")
    (root / "ImageSets" / "Main" / "test.txt").write_text("im5\n")
    s2 = load_data(cfg(f"voc:{root}"), "detection")
    assert (len(s2.train), len(s2.val), len(s2.test)) == (4, 1, 1)


def test_voc_malformed_xml_names_the_file(tmp_path):
    root = make_voc(tmp_path / "VOC")
    bad = root / "Annotations" / "im2.xml"
    bad.write_text("<annotation><object><name>dog</name>")
    with pytest.raises(DataError, match=r"im2\.xml: malformed VOC XML"):
        load_data(cfg(f"voc:{root}"), "detection")
    bad.write_text("<annotation><object><name>dog</name></object></annotation>")
    with pytest.raises(DataError, match=r"im2\.xml: an <object> has no <bndbox>"):
        load_data(cfg(f"voc:{root}"), "detection")
    with pytest.raises(DataError, match="no such file or folder"):
        load_data(cfg(f"voc:{tmp_path / 'nothing-here'}"), "detection")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no Annotations/ folder"):
        load_data(cfg(f"voc:{tmp_path / 'empty'}"), "detection")


def make_coco(root, n=6):
    images, anns = [], []
    for i in range(n):
        _image(root / "images" / "train2017" / f"{i:03d}.jpg", 20 * i)
        images.append({"id": i + 10, "file_name": f"{i:03d}.jpg", "width": W, "height": H})
        anns.append({"id": 2 * i, "image_id": i + 10, "category_id": 7, "bbox": [10, 5, 40, 20], "iscrowd": 0})
        anns.append({"id": 2 * i + 1, "image_id": i + 10, "category_id": 3, "bbox": [60, 10, 30, 30],
                     "iscrowd": int(i == 1)})
    js = root / "annotations" / "instances_train2017.json"
    js.parent.mkdir(parents=True, exist_ok=True)
    js.write_text(json.dumps({"images": images, "annotations": anns,
                              "categories": [{"id": 7, "name": "dog"}, {"id": 3, "name": "cat"}]}))
    return js


def test_coco_reader(tmp_path):
    js = make_coco(tmp_path / "coco")
    for source in (f"coco:{tmp_path / 'coco'}", f"coco:{js}"):
        s = load_data(cfg(source, options={"in_memory": False}), "detection")
        assert s.class_names == ["cat", "dog"]  # category ids 3, 7 → labels 0, 1
        boxes = [b for ds in (s.train, s.val, s.test) for b in dataset_boxes(ds)]
        assert sum(len(b) for b in boxes) == 11  # one crowd box dropped
        x = s.train[0]
        assert x["image"].shape == (3, H, W)
        order = np.argsort(x["labels"].numpy())
        assert np.allclose(x["boxes"].numpy()[order], [[60, 10, 90, 40], [10, 5, 50, 25]]) or len(order) == 1
    mem = load_data(cfg(f"coco:{js}"), "detection")  # small: decoded into memory, same targets
    lazy = load_data(cfg(f"coco:{js}", options={"in_memory": False}), "detection")
    assert all(np.allclose(a, b) for a, b in zip(dataset_boxes(mem.train), dataset_boxes(lazy.train)))
    assert (mem.train[0]["image"] == lazy.train[0]["image"]).all()


def test_coco_malformed_json_names_the_file(tmp_path):
    js = make_coco(tmp_path / "coco")
    js.write_text('{"images": [}')
    with pytest.raises(DataError, match=r"instances_train2017\.json: malformed JSON at line 1"):
        load_data(cfg(f"coco:{js}"), "detection")
    js.write_text('{"images": [], "annotations": []}')
    with pytest.raises(DataError, match=r"instances_train2017\.json: missing or non-list key 'categories'"):
        load_data(cfg(f"coco:{js}"), "detection")
    js.write_text(json.dumps({"images": [{"id": 1}], "annotations": [], "categories": []}))
    with pytest.raises(DataError, match=r"images\[0\] needs id, file_name, width and height"):
        load_data(cfg(f"coco:{js}"), "detection")


def make_yolo(root, n=6):
    for split, k in (("train", n), ("val", 2)):
        for i in range(k):
            _image(root / "images" / split / f"{split}{i}.jpg", 20 * i)
            lab = root / "labels" / split / f"{split}{i}.txt"
            lab.parent.mkdir(parents=True, exist_ok=True)
            if i != 1:  # image 1 has no label file: a negative image
                lab.write_text("1 0.3 0.3 0.4 0.4\n0 0.75 0.5 0.3 0.6\n")
    (root / "classes.txt").write_text("cat\ndog\n")
    return root


def test_yolo_reader(tmp_path):
    root = make_yolo(tmp_path / "yolo")
    s = load_data(cfg(f"yolo:{root}"), "detection")
    assert s.class_names == ["cat", "dog"] and len(s.val) == 2 and len(s.train) + len(s.test) == 6
    boxes = {int(i): b for i, b in zip(s.train.ids, dataset_boxes(s.train))}
    some = next(b for b in boxes.values() if len(b))
    assert np.allclose(some, [[10, 5, 50, 25], [60, 10, 90, 40]], atol=1e-3)
    assert any(len(b) == 0 for ds in (s.train, s.test) for b in dataset_boxes(ds))
    yml = root / "data.yaml"
    yml.write_text("path: .\ntrain: images/train\nval: images/val\nnames: {0: cat, 1: dog}\n")
    assert load_data(cfg(f"yolo:{yml}"), "detection").class_names == ["cat", "dog"]


def test_yolo_malformed_line_names_file_and_line(tmp_path):
    root = make_yolo(tmp_path / "yolo")
    (root / "labels" / "train" / "train2.txt").write_text("0 0.5 0.5 0.2 0.2\n1 0.5 oops 0.2 0.2\n")
    with pytest.raises(DataError, match=r"train2\.txt:2: expected numbers"):
        load_data(cfg(f"yolo:{root}"), "detection")
    (root / "labels" / "train" / "train2.txt").write_text("5 0.5 0.5 0.2 0.2\n")
    with pytest.raises(DataError, match=r"train2\.txt:1: class '5' is not an integer in 0\.\.1"):
        load_data(cfg(f"yolo:{root}"), "detection")


def test_yolo_boxes_past_the_image_are_clipped_and_counted_once(tmp_path, capsys):
    root = make_yolo(tmp_path / "yolo")
    lab = root / "labels" / "train"
    (lab / "train2.txt").write_text("0 0.95 0.5 0.3 0.2\n1 1.5 0.5 0.2 0.2\n")  # half outside; wholly outside
    (lab / "train3.txt").write_text("")  # an empty label file: an image with no objects
    capsys.readouterr()
    s = load_data(cfg(f"yolo:{root}"), "detection")
    err = capsys.readouterr()
    text = err.out + err.err
    assert text.count("reach outside the image") == 1 and "2 box(es) in 1 label file(s)" in text
    assert "train2.txt:1, train2.txt:2" in text
    boxes = {int(i): b for ds in (s.train, s.test) for i, b in zip(ds.ids, dataset_boxes(ds))}  # id = file order
    assert np.allclose(boxes[2], [[80, 20, 100, 30]], atol=1e-3)  # clipped; the one wholly outside is dropped
    assert len(boxes[3]) == 0
    (lab / "train2.txt").write_text("0 320 240 50 60\n")  # pixel coordinates are not normalized
    with pytest.raises(DataError, match=r"train2\.txt:1: coordinates must be normalized"):
        load_data(cfg(f"yolo:{root}"), "detection")


def test_readers_refuse_other_tasks(tmp_path):
    with pytest.raises(DataError, match="voc provides detection targets, not classification"):
        load_data(cfg(f"voc:{make_voc(tmp_path / 'v')}"), "classification")


@pytest.mark.data
def test_coco128_yolo_and_coco_json_agree():
    require_data("coco128")
    y = load_data(DataConfig(source="yolo:coco128", input_size=160, val_fraction=0, test_fraction=0), "detection")
    c = load_data(DataConfig(source="coco:coco128", input_size=160, val_fraction=0, test_fraction=0), "detection")
    assert len(y.train) == len(c.train) == 128 and len(y.class_names) == len(c.class_names) == 80
    assert y.class_names == c.class_names
    yb, cb = dataset_boxes(y.train), dataset_boxes(c.train)
    assert sum(len(b) for b in yb) == sum(len(b) for b in cb) == 929  # COCO's 939 minus its 10 crowd boxes
    assert all(np.allclose(np.sort(a, 0), np.sort(b, 0), atol=0.05) for a, b in zip(yb, cb))
