"""Single-object localization (Asplund 2016): classical front-ends vs OpenCV, the loss, and a localizer that is not
constant (Asplund's (2016) collapsed to one box for every input)."""

import json

import cv2
import numpy as np
import pytest
import torch

from conftest import tiny_data
from edgevision.data.synthetic import ShapesGenerator
from edgevision.models import build_model
from edgevision.models.frontend import ClassicalFrontend, canny_map, harris_map
from edgevision.tasks.localization import LocalizationTask, decode_boxes

pytestmark = pytest.mark.usefixtures("one_thread")


def _images(n=4, size=64):
    g = ShapesGenerator(6, size, 0, 3, 1, 6.0)
    return [g.sample(i)["image"] for i in range(n)]


def test_harris_channel_equals_opencv():
    for img in _images():
        gray = img.mean(2).astype(np.float32)
        r = cv2.cornerHarris(gray, blockSize=2, ksize=3, k=0.04)
        ref = r > 0.01 * r.max()
        ours = harris_map(torch.from_numpy(gray)[None, None])[0, 0].numpy() > 0
        assert (ours == ref).mean() == 1.0 and ref.sum() > 10


def test_canny_channel_equals_opencv():
    for img in _images(6):
        g8 = img.mean(2).round().astype(np.uint8)
        ref = cv2.Canny(g8, 50, 150) > 0
        ours = canny_map(torch.from_numpy(g8).float()[None, None])[0, 0].numpy() > 0
        assert (ours == ref).mean() > 0.999 and ref.sum() > 10


def test_frontend_undoes_normalization():
    img = _images(1)[0]
    mean, std = [0.4, 0.5, 0.6], [0.2, 0.25, 0.3]
    x = (torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255 - torch.tensor(mean).view(1, 3, 1, 1)) / \
        torch.tensor(std).view(1, 3, 1, 1)
    out = ClassicalFrontend("harris", mean, std)(x)
    assert out.shape == (1, 4, 64, 64) and torch.equal(out[:, :3], x)
    gray = img.mean(2).astype(np.float32)
    r = cv2.cornerHarris(gray, 2, 3, 0.04)
    assert ((out[0, 3].numpy() > 0) == (r > 0.01 * r.max())).mean() > 0.998


def test_losses_on_known_boxes():
    task = LocalizationTask(["a"], input_size=[100, 100], box_loss="giou")
    logit = torch.logit(torch.tensor([[0.5, 0.5, 0.2, 0.2]]))  # the box (40, 40)–(60, 60)
    assert torch.allclose(decode_boxes(logit), torch.tensor([[0.4, 0.4, 0.6, 0.6]]))
    batch = {"image": torch.zeros(1, 3, 100, 100), "box": torch.tensor([[40.0, 40, 60, 60]])}
    assert float(task.loss(logit, batch)) == pytest.approx(0.0, abs=1e-5)
    far = {**batch, "box": torch.tensor([[70.0, 40, 90, 60]])}  # disjoint: GIoU = −(600 − 800)… hull 50×20
    giou = 0 - (50 * 20 - 800) / (50 * 20)
    assert float(task.loss(logit, far)) == pytest.approx(2.0 * (1 - giou), rel=1e-5)
    l1 = LocalizationTask(["a"], input_size=[100, 100], box_loss="smooth_l1", lambda_l1=1.0, beta=0.02)
    # |Δx1| = |Δx2| = 0.3 in normalized units: smooth-L1 = 0.3 − β/2 each
    assert float(l1.loss(logit, far)) == pytest.approx(2 * (0.3 - 0.01), rel=1e-5)


def test_localizer_contract_and_frontend_options():
    for fe in ("none", "harris", "canny"):
        m = build_model("localizer", num_classes=3, input_size=64, frontend=fe).eval()
        with torch.no_grad():
            y = m(torch.randn(2, 3, 64, 64))
        assert y.shape == (2, 7) and torch.isfinite(y).all()
    with pytest.raises(ValueError, match="frontend 'sobel'"):
        build_model("localizer", frontend="sobel")


def test_trained_localizer_is_not_constant(tmp_path):
    """Asplund's (2016) localizer output one box for every image; ours must spread its boxes like the truth does."""
    from edgevision.artifacts import load_artifact
    from edgevision.data import DataConfig, load_data
    from edgevision.train.stage import train

    data = tiny_data(n_train=384, size=48, classes=3)
    res = train(out=tmp_path / "loc", model="localizer", model_kwargs={"width": 8}, task="localization", data=data,
                epochs=12, batch_size=32, optimizer="adamw", lr=0.003)
    test = res.metrics["test"]
    art = load_artifact(res.artifact)
    splits = load_data(DataConfig(**{**data, "mean": art.preprocess["mean"], "std": art.preprocess["std"]}),
                       "localization")
    x = (splits.test.images.float() / 255 - torch.tensor(art.preprocess["mean"]).view(1, 3, 1, 1)) / \
        torch.tensor(art.preprocess["std"]).view(1, 3, 1, 1)
    with torch.no_grad():
        boxes = decode_boxes(art.model(x)).numpy()
    truth = splits.test.targets["box"].numpy() / 48
    # the predicted boxes vary across images nearly as much as the true ones (a collapsed model gives ~0)
    assert boxes.std(0).mean() > 0.4 * truth.std(0).mean()
    mean_box = torch.tensor(splits.train.targets["box"].numpy().mean(0) / 48)
    from edgevision.ops.torch_boxes import paired_iou_giou

    const_iou = float(paired_iou_giou(mean_box.expand(len(truth), 4), torch.tensor(truth))[0].mean())
    assert test["iou"] > const_iou + 0.1 and test["box_std"] > 0.03
    json.dumps(LocalizationTask(["a", "b", "c"], [48, 48]).decode(art.model(x[:2]), image_sizes=[(96, 96)] * 2))
