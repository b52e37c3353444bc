"""Detection end to end through the CLI: anchors, train --task detection, eval's AP table, predict's drawings,
and the exported detector (decode in the graph or in NumPy) in onnxruntime and cv2.dnn."""

import json

import cv2
import numpy as np
import pytest
import torch

from edgevision.artifacts import load_artifact
from edgevision.cli import main
from edgevision.deploy.detection import export_detector
from edgevision.deploy.detector_runtime import OnnxDetector

pytestmark = pytest.mark.usefixtures("one_thread")
DATA = ["--data", "synthetic:shapes", "--input-size", "48", "--set", "data.options.n_train=48", "--set",
        "data.options.n_val=16", "--set", "data.options.n_test=16", "--set", "data.options.num_classes=3",
        "--set", "data.options.max_objects=3"]


@pytest.fixture(scope="module")
def detector(tmp_path_factory):
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("det") / "train"
    code = main(["train", "--model", "squeezedet_small", "--task", "detection", *DATA, "--epochs", "2",
                 "--batch-size", "16", "--optimizer", "adamw", "--lr", "0.003", "--task-options", "anchors=4",
                 "--out", str(out)])
    torch.set_num_threads(prev)
    assert code == 0
    return out


def test_anchors_verb_prints_and_saves(tmp_path, capsys):
    code = main(["anchors", "synthetic:shapes", "--k", "5", "--input", "64x64", "--set", "data.options.n_train=64",
                 "--set", "data.options.n_val=0", "--set", "data.options.n_test=0", "--set",
                 "data.options.max_objects=3", "--out", str(tmp_path / "a")])
    out, err = capsys.readouterr()
    assert code == 0
    res = json.loads((tmp_path / "a" / "anchors.json").read_text())
    assert len(res["anchors"]) == 5 and 0.3 < res["mean_iou"] <= 1 and res["input_size"] == [64, 64]
    assert "mean IoU" in out + err
    assert main(["anchors", "synthetic:shapes", "--input", "64by64", "--out", str(tmp_path / "b")]) == 2


def test_train_eval_predict(detector, tmp_path, capsys):
    card = json.loads((detector / "card.json").read_text())
    assert card["task"]["name"] == "detection" and len(card["task"]["anchors"]) == 4
    assert card["model"]["kwargs"]["num_anchors"] == 4 and "ap50" in card["metrics"]["test"]
    capsys.readouterr()
    assert main(["eval", str(detector), "--out", str(tmp_path / "ev")]) == 0
    out, err = capsys.readouterr()
    table = out + err
    assert "AP50-11pt" in table and "AP[.5:.95]" in table and "circle" in table and "mean" in table
    ev = json.loads((tmp_path / "ev" / "eval.json").read_text())
    assert set(ev["per_class"]) <= {"circle", "square", "triangle"} and 0 <= ev["map"] <= 1
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for i in range(2):
        img = np.full((60, 80, 3), 40 * i, np.uint8)
        cv2.circle(img, (40, 30), 15, (255, 255, 0), -1)
        cv2.imwrite(str(imgs / f"p{i}.png"), img)
    assert main(["predict", str(detector), str(imgs), "--set", "batch_size=1", "--out", str(tmp_path / "pr")]) == 0
    lines = [json.loads(x) for x in (tmp_path / "pr" / "predictions.jsonl").read_text().splitlines()]
    assert len(lines) == 2 and all("detections" in x and "count" in x for x in lines)
    drawn = cv2.imread(str(tmp_path / "pr" / "p0.png"))
    assert drawn.shape == (60, 80, 3)


@pytest.mark.parametrize("decode_in", ["graph", "numpy"])
def test_exported_detector_runs_in_onnxruntime_and_cv2(detector, tmp_path, decode_in):
    art = load_artifact(detector)
    task = {**art.task, "score_threshold": 0.0}
    path, side = export_detector(art.model, tmp_path / f"det_{decode_in}.onnx", task, art.preprocess, decode_in)
    assert json.loads(side.read_text())["decode"] == decode_in
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (72, 96, 3), dtype=np.uint8) for _ in range(3)]
    ort_det = OnnxDetector(path, "onnxruntime", score_threshold=0.0)
    cv_det = OnnxDetector(path, "cv2", score_threshold=0.0)
    x = ort_det.preprocess(images)
    assert np.abs(ort_det.raw(x) - cv_det.raw(x)).max() < 1e-3
    # and both agree with the PyTorch task's own decode
    from edgevision.tasks import build_task

    with torch.no_grad():
        ref = build_task(task).decode(art.model(torch.from_numpy(x)), image_sizes=[im.shape[:2] for im in images],
                                      score_threshold=0.0)
    for ours in (ort_det(images), cv_det(images)):
        for a, r in zip(ours, ref):
            top = np.asarray([d["box"] for d in r["detections"][:5]])
            assert len(a["scores"]) == r["count"]
            assert np.allclose(a["boxes"][:5], top, atol=0.05)


def test_train_refuses_a_classifier_for_detection(tmp_path, capsys):
    code = main(["train", "--model", "student_cnn", "--task", "detection", *DATA, "--epochs", "1",
                 "--out", str(tmp_path / "x")])
    assert code == 2 and "needs a detection model" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.data
def test_coco128_multiclass_train_and_eval(tmp_path, capsys):
    """COCO128 (80 classes) through both readers: train on YOLO labels, evaluate through the COCO JSON."""
    from conftest import require_data

    require_data("coco128")
    data = ["--data", "yolo:coco128", "--input-size", "128", "--set", "data.test_fraction=0.2"]
    assert main(["train", "--model", "squeezedet_small", "--task", "detection", *data, "--epochs", "2",
                 "--batch-size", "16", "--optimizer", "adamw", "--lr", "0.003", "--out", str(tmp_path / "t")]) == 0
    card = json.loads((tmp_path / "t" / "card.json").read_text())
    assert len(card["task"]["class_names"]) == 80 and card["metrics"]["test"]["loss_class"] > 0
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "t"), "--data", "coco:coco128", "--out", str(tmp_path / "e")]) == 0
    out = capsys.readouterr()
    assert "person" in out.out + out.err and "AP[.5:.95]" in out.out + out.err
    ev = json.loads((tmp_path / "e" / "eval.json").read_text())
    assert len(ev["per_class"]) > 10 and 0 <= ev["map"] <= 1


def test_report_shows_the_ap_table(detector, tmp_path):
    from edgevision.report.html import report

    assert main(["eval", str(detector), "--out", str(tmp_path / "ev")]) == 0
    res = report([detector, tmp_path / "ev"], out=tmp_path / "r.html")
    text = res.artifact.read_text()
    assert "<h2>Detection</h2>" in text and "AP50 (VOC)" in text and "circle" in text
