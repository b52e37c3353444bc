"""Segmentation losses and metrics on hand-computed masks, the task (decode, draw, meter), and a tiny end-to-end
run: train → eval → predict (overlay images) → report."""

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import confusion_matrix

from conftest import tiny_data
from edgevision.errors import ConfigError
from edgevision.metrics.segmentation import confusion_per_image, segmentation_metrics
from edgevision.tasks import build_task
from edgevision.tasks.overlay import palette, rle_decode, rle_encode
from edgevision.tasks.seglosses import ce_loss, dice_loss, iou_loss
from edgevision.train.stage import resolve_task


def _logits_for(prob_fg: torch.Tensor) -> torch.Tensor:
    """Two-class logits (1, 2, H, W) whose softmax foreground probability is ``prob_fg`` (H, W)."""
    p = prob_fg.double()
    return torch.stack([torch.zeros_like(p), torch.log(p / (1 - p))])[None].float()


def test_iou_and_dice_losses_by_hand():
    # One 2×2 image, foreground in the top row. Ŷ_fg = [[.9, .6], [.2, .1]], so Ŷ_bg = [[.1, .4], [.8, .9]].
    y = torch.tensor([[[1, 1], [0, 0]]])
    logits = _logits_for(torch.tensor([[0.9, 0.6], [0.2, 0.1]]))
    # fg: I = .9 + .6 = 1.5, U = ΣY + ΣŶ − I = 2 + 1.8 − 1.5 = 2.3;  bg: I = .8 + .9 = 1.7, U = 2 + 2.2 − 1.7 = 2.5
    iou = (1.5 / 2.3 + 1.7 / 2.5) / 2
    assert iou_loss(logits, y, smooth=0.0).item() == pytest.approx(1 - iou, abs=1e-5)
    dice = (2 * 1.5 / (2 + 1.8) + 2 * 1.7 / (2 + 2.2)) / 2
    assert dice_loss(logits, y, smooth=0.0).item() == pytest.approx(1 - dice, abs=1e-5)
    ce = -(math.log(0.9) + math.log(0.6) + math.log(0.8) + math.log(0.9)) / 4
    assert ce_loss(logits, y).item() == pytest.approx(ce, abs=1e-5)


def test_losses_ignore_pixels_and_have_gradients():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 8, 8, requires_grad=True)
    y = torch.randint(0, 3, (2, 8, 8))
    y_ign = y.clone()
    y_ign[:, :4] = 255
    for fn in (ce_loss, iou_loss, dice_loss):
        full, part = fn(logits, y), fn(logits, y_ign)
        assert torch.isfinite(full) and torch.isfinite(part) and not torch.isclose(full, part)
        # changing logits only where pixels are ignored leaves the loss unchanged
        moved = logits.detach().clone()
        moved[:, :, :4] += 5
        assert fn(moved, y_ign).item() == pytest.approx(part.item(), abs=1e-5)
        part.backward()
        assert torch.isfinite(logits.grad).all() and logits.grad[:, :, :4].abs().max() == 0
        logits.grad = None
    assert ce_loss(logits, torch.full_like(y, 255)).item() == 0.0


def test_task_loss_sums_and_validates():
    task = build_task({"name": "segmentation", "class_names": ["bg", "a", "b"], "loss": "ce+dice"})
    logits, y = torch.randn(2, 3, 8, 8), torch.randint(0, 3, (2, 8, 8))
    assert task.loss(logits, {"mask": y}).item() == pytest.approx((ce_loss(logits, y) + dice_loss(logits, y)).item())
    with pytest.raises(ConfigError, match=r"unknown part 'focal'.*allowed: ce, dice, iou"):
        build_task({"name": "segmentation", "class_names": ["bg", "a"], "loss": "ce+focal"})
    # a model predicting at lower resolution is upsampled to the mask size
    assert torch.isfinite(task.loss(torch.randn(2, 3, 4, 4), {"mask": y}))


def test_metrics_by_hand():
    # image 0: truth/prediction 4 pixels; image 1: everything right.
    gt = np.array([[[0, 0], [1, 1]], [[1, 0], [0, 1]]])
    pred = np.array([[[0, 1], [1, 1]], [[1, 0], [0, 1]]])
    m = segmentation_metrics(pred, gt, ["bg", "fg"])
    # image 0: bg TP 1, FN 1, FP 0 → IoU 1/2, Dice 2/3; fg TP 2, FP 1 → IoU 2/3, Dice 4/5; accuracy 3/4
    assert m["miou"] == pytest.approx((0.5 + 2 / 3 + 1 + 1) / 4)
    assert m["mdice"] == pytest.approx((2 / 3 + 0.8 + 1 + 1) / 4)
    assert m["mpa"] == pytest.approx((0.75 + 1) / 2)
    assert m["map_50"] == 1.0 and m["map_55"] == pytest.approx(0.75) and m["map_70"] == pytest.approx(0.5)
    assert m["per_class"]["iou"] == pytest.approx([0.75, (2 / 3 + 1) / 2])
    # dataset level: bg TP 3, FN 1 → 3/4; fg TP 4, FP 1 → 4/5
    assert m["miou_dataset"] == pytest.approx((0.75 + 0.8) / 2)
    assert m["map_curve"]["thresholds"][0] == 0.5 and len(m["map_curve"]["values"]) == 10


def test_absent_class_is_left_out_and_ignore_pixels_do_not_count():
    gt = np.array([[[0, 0], [0, 255]]])
    pred = np.array([[[0, 0], [0, 2]]])  # class 1 absent everywhere, class 2 predicted only on an ignored pixel
    m = segmentation_metrics(pred, gt, ["bg", "a", "b"])
    assert m["miou"] == 1.0 and m["mpa"] == 1.0 and m["per_class"]["iou"] == [1.0, None, None]


def test_miou_matches_a_direct_confusion_matrix_computation():
    rng = np.random.default_rng(0)
    c = 4
    gt = rng.integers(0, c, (6, 16, 16))
    pred = np.where(rng.random(gt.shape) < 0.7, gt, rng.integers(0, c, gt.shape))
    pred[2][pred[2] == 3] = 0  # class 3 missing from one prediction
    m = segmentation_metrics(pred, gt, [f"c{i}" for i in range(c)])
    ious, accs = [], []
    for g, p in zip(gt, pred):  # per image, straight from sklearn's confusion matrix
        cm = confusion_matrix(g.ravel(), p.ravel(), labels=range(c))
        for j in range(c):
            den = cm[j].sum() + cm[:, j].sum() - cm[j, j]
            if den:
                ious.append(cm[j, j] / den)
        accs.append(np.trace(cm) / cm.sum())
    assert m["miou"] == pytest.approx(np.mean(ious)) and m["mpa"] == pytest.approx(np.mean(accs))
    cm = confusion_matrix(gt.ravel(), pred.ravel(), labels=range(c))
    ds = np.diag(cm) / (cm.sum(0) + cm.sum(1) - np.diag(cm))
    assert m["miou_dataset"] == pytest.approx(ds.mean())
    per = confusion_per_image(torch.as_tensor(pred), torch.as_tensor(gt), c).numpy()
    assert np.array_equal(per.sum(0), cm)


def test_rle_roundtrip_and_overlay():
    lab = np.zeros((6, 8), np.int32)
    lab[1:4, 2:6] = 1
    lab[5, :] = 2
    rle = rle_encode(lab)
    assert np.array_equal(rle_decode(json.loads(json.dumps(rle))), lab) and len(rle["values"]) < lab.size
    task = build_task({"name": "segmentation", "class_names": ["background", "a", "b"]})
    img = np.full((12, 16, 3), 100, np.uint8)
    out = task.draw(img, {"mask": rle})  # the label map is nearest-resized to the image
    assert out.shape == img.shape and out.dtype == np.uint8
    assert (out[2:8, 4:12] != img[2:8, 4:12]).any(axis=-1).all()  # class 1 tinted
    assert np.array_equal(out[9, 14], img[9, 14])  # background left clear
    assert tuple(palette(3)[1]) == (128, 0, 0)


def test_decode_upsamples_to_the_image_size():
    task = build_task({"name": "segmentation", "class_names": ["background", "person"]})
    logits = torch.zeros(1, 2, 8, 8)
    logits[0, 1, :4] = 5.0  # top half: person
    (pred,) = task.decode(logits, image_sizes=[(20, 30)])
    lab = rle_decode(pred["mask"])
    assert lab.shape == (20, 30) and lab[:9].min() == 1 and lab[11:].max() == 0
    assert pred["label"] == "person" and pred["areas"]["person"] == pytest.approx(0.5, abs=0.06)


def test_task_must_fit_the_model():
    assert resolve_task(None, "enet") == "segmentation"
    assert resolve_task(None, "student_cnn") == "classification"
    with pytest.raises(ConfigError, match="task 'classification' does not fit model 'enet'"):
        resolve_task("classification", "enet")


def test_train_eval_predict_report_end_to_end(tmp_path, capsys):
    import cv2

    from edgevision import predict, report, train
    from edgevision.train.evaluate import evaluate

    data = tiny_data(n_train=32, size=32, classes=2)
    res = train(model="enet", model_kwargs={"width_mult": 0.25}, task_options={"loss": "ce+dice"}, data=data,
                epochs=2, batch_size=16, optimizer="adam", lr=0.01, augment={"hflip": 0.5, "perspective": {"p": 0.5}},
                out=tmp_path / "train")
    card = res.card
    assert card["task"]["name"] == "segmentation" and card["task"]["loss"] == "ce+dice"
    assert set(card["metrics"]["test"]) >= {"miou", "mdice", "mpa", "map_50", "map"}
    ev = evaluate(res.run_dir, out=tmp_path / "eval")
    assert 0 <= ev.metrics["test"]["miou"] <= 1
    img_dir = tmp_path / "imgs"
    img_dir.mkdir()
    for i in range(2):
        cv2.imwrite(str(img_dir / f"im{i}.png"), np.random.default_rng(i).integers(0, 255, (40, 50, 3), np.uint8))
    pr = predict(res.run_dir, [img_dir], out=tmp_path / "pred")
    lines = [json.loads(x) for x in (pr.run_dir / "predictions.jsonl").read_text().splitlines()]
    assert len(lines) == 2 and rle_decode(lines[0]["mask"]).shape == (40, 50)
    assert cv2.imread(str(pr.run_dir / "im0.png")).shape == (40, 50, 3)  # the overlay, at the image's size
    rep = report([tmp_path / "train", tmp_path / "eval"], out=tmp_path / "r.html")
    html = rep.artifact.read_text()
    assert "Segmentation" in html and "mAP_x" in html and "per-class IoU" in html


def test_shapes_segmentation_names_include_background():
    from edgevision.data import DataConfig, load_data

    s = load_data(DataConfig(**tiny_data(n_train=8, classes=3)), "segmentation")
    assert s.class_names == ["background", "circle", "square", "triangle"]
    assert int(s.train.targets["mask"].max()) <= 3


def test_kl_per_pixel_shapes_for_distillation():
    """What the distillation task needs from us: logits (N, C, H, W), class dim 1, usable by a per-pixel KL."""
    task = build_task({"name": "segmentation", "class_names": ["bg", "fg"]})
    from edgevision.models import build_model

    m = build_model("fastlinknet", width_mult=0.25).eval()
    out = task.step(m, {"image": torch.randn(2, 3, 64, 64), "mask": torch.zeros(2, 64, 64, dtype=torch.long)})
    s = out["output"]
    assert s.shape == (2, 2, 64, 64)
    kl = F.kl_div(F.log_softmax(s / 4, 1), F.softmax(s.detach() / 4, 1), reduction="none").sum(1)
    assert kl.shape == (2, 64, 64) and kl.abs().max() < 1e-5
