"""ultralytics YOLO detectors through edgevision: the adapter's layout against ultralytics' own decode, a
checkpoint read without unpickling anything but model classes, and train → eval → predict → export → int8."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytest.importorskip("ultralytics", reason="ultralytics is not installed (make install-peer: the zoo venv)")

from edgevision.errors import ConfigError
from edgevision.models import build_model
from edgevision.models.base import resolve
from edgevision.tasks.detection import DetectionTask

pytestmark = [pytest.mark.zoo, pytest.mark.usefixtures("one_thread")]
DATA = ["--data", "synthetic:shapes", "--input-size", "64", "--set", "data.options.n_train=16", "--set",
        "data.options.n_val=8", "--set", "data.options.n_test=8", "--set", "data.options.num_classes=2"]


def test_the_points_layout_decodes_to_ultralytics_own_boxes_and_scores():
    task = DetectionTask(["a", "b"], anchors=[[10, 10]], input_size=[64, 64], score_threshold=0.0)
    kw = task.adapt_model_kwargs({"num_classes": 2}, resolve("ultralytics:yolo11n.yaml").meta)
    assert kw["reg_max"] == 15 and task.head == "points"
    with pytest.raises(ConfigError, match=r"task_options.reg_max 8: this model's head has reg_max 15"):
        DetectionTask(["a"], anchors=[[10, 10]], input_size=[64, 64], reg_max=8).adapt_model_kwargs(
            {"num_classes": 1}, resolve("ultralytics:yolo11n.yaml").meta)
    model = build_model("ultralytics:yolo11n.yaml", **kw).eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        raw = model(x)
        y, _ = model.net(x)  # ultralytics' decode: (B, 4 + C, N) as centre x, y, w, h in pixels, then σ(scores)
    assert raw.shape == (2, 8 * 8 + 4 * 4 + 2 * 2, 4 * 16 + 2)
    boxes, scores = task.decode_numpy(raw.numpy(), (64, 64))
    cxcy, wh = y[:, :2].transpose(1, 2), y[:, 2:4].transpose(1, 2)
    ref = torch.cat([cxcy - wh / 2, cxcy + wh / 2], -1).clamp(0, 64).numpy()
    assert np.abs(boxes - ref).max() < 1e-3
    assert np.abs(scores - y[:, 4:].transpose(1, 2).numpy()).max() < 1e-5


def test_a_checkpoint_loads_with_only_model_classes_and_its_classes_must_match(tmp_path):
    from ultralytics import YOLO

    path = tmp_path / "best.pt"
    YOLO("yolo11n.yaml").save(str(path))  # 80 classes, as ultralytics saves a model
    model = build_model(f"ultralytics:{path}", num_classes=80)
    assert model.num_classes == 80 and model.strides == [8, 16, 32]
    with pytest.raises(ConfigError, match="has 80 classes, the data 2"):
        build_model(f"ultralytics:{path}", num_classes=2)
    evil = tmp_path / "evil.pt"
    torch.save({"model": model.net, "hook": np.random.default_rng}, evil)  # a global outside the model classes
    with pytest.raises(ConfigError, match="names numpy"):
        build_model(f"ultralytics:{evil}", num_classes=80)
    from ultralytics.nn.tasks import torch_safe_load  # a function inside ultralytics.nn: never called

    class Call:
        def __reduce__(self):
            return torch_safe_load, (str(tmp_path / "payload.pt"), False)

    torch.save({"model": Call()}, evil)
    with pytest.raises(ConfigError, match=r"names ultralytics\.nn\.tasks\.torch_safe_load"):
        build_model(f"ultralytics:{evil}", num_classes=80)
    with pytest.raises(ConfigError, match="knows no architecture"):
        build_model("ultralytics:yolo99z.yaml", num_classes=2)


def test_a_checkpoint_s_artifact_rebuilds_without_the_file_and_trainer_checkpoints_load(tmp_path):
    from ultralytics.cfg import get_cfg
    from ultralytics.nn.tasks import DetectionModel

    from edgevision.models.base import build_from_spec, get_arch

    net = DetectionModel("yolo11n.yaml", nc=2, verbose=False)
    net.args = get_cfg()  # what the trainer saves in last.pt: an IterableSimpleNamespace
    path = tmp_path / "last.pt"
    torch.save({"epoch": 3, "model": None, "ema": net.half(), "train_args": {"epochs": 10}}, path)
    model = build_model(f"ultralytics:{path}", num_classes=2)
    spec = get_arch(model)
    path.unlink()
    again = build_from_spec(spec.to_dict())
    again.load_state_dict(model.state_dict())
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model.eval()(x), again.eval()(x), atol=1e-5)


def test_train_eval_predict_export_and_int8_through_the_cli(tmp_path, capsys):
    import cv2

    from edgevision.cli import main

    run = tmp_path / "train"
    assert main(["train", "--model", "ultralytics:yolo11n.yaml", "--task", "detection", *DATA, "--epochs", "1",
                 "--batch-size", "8", "--out", str(run)]) == 0
    card = json.loads((run / "card.json").read_text())
    assert card["task"]["head"] == "points" and card["task"]["reg_max"] == 15 and "ap50" in card["metrics"]["test"]
    assert main(["eval", str(run), "--out", str(tmp_path / "ev")]) == 0
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    cv2.imwrite(str(imgs / "a.png"), np.full((50, 70, 3), 90, np.uint8))
    assert main(["predict", str(run), str(imgs), "--out", str(tmp_path / "pr")]) == 0
    assert "detections" in (tmp_path / "pr" / "predictions.jsonl").read_text()
    assert main(["export", str(run), "--out", str(tmp_path / "cv")]) == 2  # cv2.dnn cannot run YOLO11's attention
    assert "--engines onnxruntime" in capsys.readouterr().err
    assert main(["export", str(run), "--int8", "--min-agreement", "0", "--engines", "onnxruntime", "--out",
                 str(tmp_path / "x")]) == 0
    assert (tmp_path / "x" / "model.onnx").is_file() and (tmp_path / "x" / "model.int8.onnx").is_file()
    assert main(["distill", "--teacher", str(run), "--student", "afdet_mobilenet", "--student-kwargs",
                 "width_mult=0.25", "--epochs", "1", "--batch-size", "8", "--out", str(tmp_path / "d")]) == 0
    student = json.loads((tmp_path / "d" / "card.json").read_text())
    assert student["model"]["name"] == "afdet_mobilenet" and student["model"]["kwargs"]["reg_max"] == 15
    assert student["teacher"]["model"] == "ultralytics:yolo11n.yaml"
