"""The detection task: loss pieces on a hand-made case, anchor assignment, decode/draw, training, export."""

import json
import math

import numpy as np
import pytest
import torch

from conftest import tiny_data
from edgevision.data import DataConfig, load_data
from edgevision.models import build_model
from edgevision.ops import torch_boxes as tb
from edgevision.tasks.detection import DetectionTask, class_probability, person_probability
from edgevision.tasks.detection_loss import LossWeights, assign, squeezedet_loss

pytestmark = pytest.mark.usefixtures("one_thread")


def _hand_case():
    # one anchor shape (20×20), a 1×2 grid on a 32×64 input: anchors centred at (16, 16) and (48, 16)
    task = DetectionTask(["a", "b"], anchors=[[20, 20]], input_size=[32, 64])
    raw = torch.zeros(1, 1 * (5 + 2), 1, 2)
    raw[0, 0, 0, 0] = 0.1  # δx of anchor 0: the predicted box is 2 px right of the truth
    raw[0, 4, 0, 1] = -2.0  # confidence logit of anchor 1 (a negative)
    raw[0, 5:7, 0, 0] = torch.tensor([1.0, 2.0])  # class logits of anchor 0
    batch = {"image": torch.zeros(1, 3, 32, 64), "boxes": [torch.tensor([[6.0, 6, 26, 26]])],
             "labels": [torch.tensor([1])]}
    return task, raw, batch


def test_loss_pieces_on_a_hand_made_case():
    task, raw, batch = _hand_case()
    out = task.loss_parts(raw, batch)
    assert float(out["loss_bbox"]) == pytest.approx(5 * 0.1**2)  # λ_bbox·‖δ − δᴳ‖², δᴳ = 0
    iou = 18 * 20 / (2 * 400 - 18 * 20)  # predicted [8, 6, 28, 26] against [6, 6, 26, 26]
    conf_pos = 75 * (0.5 - iou) ** 2  # σ(0) = 0.5 regressed toward the IoU
    conf_neg = 100 * (1 / (1 + math.exp(2))) ** 2  # σ(−2)², one negative anchor
    assert float(out["loss_conf"]) == pytest.approx(conf_pos + conf_neg, rel=1e-5)
    assert float(out["loss_class"]) == pytest.approx(math.log(1 + math.exp(-1)), rel=1e-5)  # −log softmax(1, 2)₁
    assert float(out["loss"]) == pytest.approx(float(out["loss_bbox"] + out["loss_conf"] + out["loss_class"]))


def test_loss_weights_are_options_and_gradients_flow():
    task, raw, batch = _hand_case()
    heavy = DetectionTask(["a", "b"], anchors=[[20, 20]], input_size=[32, 64], lambda_conf_neg=1000, lambda_bbox=1)
    a, b = task.loss_parts(raw, batch), heavy.loss_parts(raw, batch)
    assert float(b["loss_bbox"]) == pytest.approx(float(a["loss_bbox"]) / 5)
    assert float(b["loss_conf"]) > float(a["loss_conf"])
    raw.requires_grad_(True)
    task.loss(raw, batch).backward()
    assert torch.isfinite(raw.grad).all() and raw.grad.abs().sum() > 0
    empty = {**batch, "boxes": [torch.zeros(0, 4)], "labels": [torch.zeros(0, dtype=torch.long)]}
    assert float(task.loss_parts(raw.detach(), empty)["loss_bbox"]) == 0.0  # an image without objects


def test_assignment_best_anchor_wins_and_match_iou_adds_positives():
    anchors = torch.tensor([[0.0, 0, 10, 10], [0, 0, 12, 12], [40, 40, 50, 50]])
    gt = torch.tensor([[[0.0, 0, 10, 10], [0, 0, 10.5, 10.5]]])
    valid = torch.tensor([[True, True]])
    owner = assign(anchors, gt, valid, None)
    # both boxes' best anchor is 0 (IoU 1 and 0.907): box 0 keeps it, box 1 goes unmatched
    assert owner.tolist() == [[0, -1, -1]]
    owner = assign(anchors, gt, valid, 0.6)
    assert owner.tolist() == [[0, 1, -1]]  # anchor 1 overlaps box 1 with IoU 110.25/144 ≥ 0.6
    assert assign(anchors, gt, torch.tensor([[False, True]]), None).tolist() == [[1, -1, -1]]


def test_loss_on_random_batches_matches_a_per_anchor_loop():
    rng = np.random.default_rng(0)
    task = DetectionTask(["a", "b", "c"], anchors=[[8, 8], [16, 10]], input_size=[32, 32])
    raw = torch.tensor(rng.normal(0, 0.5, (2, 2 * 8, 4, 4)), dtype=torch.float32)
    boxes = [torch.tensor([[2.0, 3, 12, 14], [15, 15, 30, 25]]), torch.tensor([[5.0, 5, 20, 12]])]
    labels = [torch.tensor([0, 2]), torch.tensor([1])]
    out = task.loss_parts(raw, {"image": torch.zeros(2, 3, 32, 32), "boxes": boxes, "labels": labels})
    anchors = task.grid(4, 4, (32, 32))
    deltas, conf, cls = tb.split_raw(raw, 2)
    total_bbox, pos_conf, total_cls, positives = 0.0, 0.0, 0.0, set()
    for i in range(2):  # reference: a loop over the ground truth, each claiming its best anchor
        for b, c in zip(boxes[i], labels[i]):
            a = int(tb.box_iou(tb.cxcywh_to_xyxy(anchors), b[None])[:, 0].argmax())
            target = tb.encode(tb.xyxy_to_cxcywh(b), anchors[a])
            total_bbox += float(((deltas[i, a] - target) ** 2).sum())
            pred = tb.cxcywh_to_xyxy(tb.decode(deltas[i, a], anchors[a]))
            pos_conf += float((torch.sigmoid(conf[i, a]) - tb.box_iou(pred[None], b[None])[0, 0]) ** 2)
            total_cls += float(-torch.log_softmax(cls[i, a], 0)[c])
            positives.add((i, a))
    n = len(positives)
    neg = sum(float(torch.sigmoid(conf[i, a]) ** 2) for i in range(2) for a in range(32) if (i, a) not in positives)
    assert n == 3
    assert float(out["loss_bbox"]) == pytest.approx(5 * total_bbox / n, rel=1e-5)
    assert float(out["loss_conf"]) == pytest.approx(75 * pos_conf / n + 100 * neg / (64 - n), rel=1e-5)
    assert float(out["loss_class"]) == pytest.approx(total_cls / n, rel=1e-5)


def test_decode_draw_and_person_probability():
    torch.manual_seed(0)
    task = DetectionTask(["person", "dog"], anchors=[[10, 20], [20, 10]], input_size=[48, 64], score_threshold=0.0)
    model = build_model("squeezedet_small", num_classes=2, num_anchors=2).eval()
    x = torch.randn(2, 3, 48, 64)
    with torch.no_grad():
        out = model(x)
    preds = task.decode(out, image_sizes=[(96, 128), (48, 64)])
    json.dumps(preds)
    assert preds[0]["count"] > 0 and set(preds[0]["detections"][0]) == {"box", "label", "class_id", "score"}
    big = np.array([d["box"] for d in preds[0]["detections"]])
    assert big.max() <= 128 and big[:, 2].max() > 64  # scaled to the 96×128 original
    img = np.zeros((96, 128, 3), np.uint8)
    assert task.draw(img, preds[0]).any() and not img.any()
    # p(person) = the best person score over all anchors, before NMS and thresholds
    p = class_probability(model, x, 0)
    best = [max([d["score"] for d in pr["detections"] if d["label"] == "person"], default=0.0) for pr in
            task.decode(out, score_threshold=0.0)]
    assert np.allclose(p.detach().numpy(), best, atol=1e-4)

    from types import SimpleNamespace

    art = SimpleNamespace(path="teacher.pt", model=model, task=task.to_dict(),  # what person_probability reads
                          preprocess={"input_size": [48, 64], "mean": [0.0] * 3, "std": [1.0] * 3})
    probs = person_probability(art, [np.zeros((30, 40, 3), np.uint8), np.full((60, 80, 3), 255, np.uint8)])
    assert probs.shape == (2,) and ((probs >= 0) & (probs <= 1)).all()


def test_task_round_trips_through_its_dict_and_computes_anchors_from_data():
    splits = load_data(DataConfig(**tiny_data(n_train=64, size=48, max_objects=3)), "detection")
    task = DetectionTask.for_data(splits, anchors=4, lambda_conf_neg=200)
    assert task.num_anchors == 4 and task.input_size == (48, 48)
    again = DetectionTask(**{k: v for k, v in task.to_dict().items() if k != "name"})
    assert np.allclose(again.anchors, task.anchors) and again.weights.conf_neg == 200
    assert task.adapt_model_kwargs({"num_classes": 4}, {"task": "detection"})["num_anchors"] == 4
    with pytest.raises(Exception, match="needs a detection model"):
        task.adapt_model_kwargs({}, {"task": "classification"})


def test_a_few_steps_fit_one_batch():
    torch.manual_seed(0)
    splits = load_data(DataConfig(**tiny_data(n_train=8, size=48, max_objects=2)), "detection")
    task = DetectionTask.for_data(splits, anchors=3)
    model = build_model("squeezedet_small", num_classes=splits.num_classes, num_anchors=3, dropout=0.0)
    batch = splits.train.get_batch(torch.arange(8))
    batch["image"] = batch["image"].float() / 255
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    losses = []
    for _ in range(16):
        out = task.step(model, batch)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(float(out["loss"].detach()))
    assert losses[-1] < 0.7 * losses[0]
    assert LossWeights().conf_neg == 100 and LossWeights().conf_pos == 75 and LossWeights().bbox == 5
    assert squeezedet_loss is not None


@pytest.mark.slow
def test_overfitting_a_few_images_reaches_full_ap():
    """End-to-end check that the loss and the post-processing agree on the output layout: anchor order
    (row, column, anchor), δ encoding and the confidence channel. A net that memorizes 8 images must then
    reach AP@0.5 ≈ 1 on them through decode → top-N → NMS → AP; a loss that only goes down would not show a
    mismatch between what the loss trains and what decode reads."""
    from edgevision.metrics.detection import evaluate_detections
    from edgevision.ops.postprocess import decode_raw, postprocess

    torch.manual_seed(0)
    splits = load_data(DataConfig(**tiny_data(n_train=8, size=64, classes=2, max_objects=2)), "detection")
    task = DetectionTask.for_data(splits, anchors=3, match_iou=0.4)
    model = build_model("squeezedet_small", num_classes=2, num_anchors=3, dropout=0.0)
    batch = splits.train.get_batch(torch.arange(8))
    batch["image"] = (batch["image"].float() / 255 - 0.5) / 0.25
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    for _ in range(120):
        out = task.step(model.train(), batch)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    with torch.no_grad():
        raw = model.eval()(batch["image"]).numpy()
    dets = postprocess(*decode_raw(raw, task.anchors, (64, 64)), task.eval_post())
    gts = [{"boxes": b.numpy(), "labels": lab.numpy()} for b, lab in zip(batch["boxes"], batch["labels"])]
    assert evaluate_detections(dets, gts, splits.class_names)["ap50"] > 0.9
