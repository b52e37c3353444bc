"""Box ops, the δ encoding, anchors, k-means and NMS (against OpenCV's cv2.dnn.NMSBoxes)."""

import cv2
import numpy as np
import pytest
import torch

from edgevision.ops import torch_boxes as tb
from edgevision.ops.anchors import decode, encode, grid_anchors, kmeans_anchors, shape_iou
from edgevision.ops.boxes import batched_nms, box_iou, cxcywh_to_xyxy, nms, xyxy_to_cxcywh
from edgevision.ops.postprocess import PostprocessConfig, decode_raw, select, split_raw


def random_boxes(rng, n, size=100.0):
    xy = rng.uniform(0, size * 0.8, (n, 2))
    wh = rng.uniform(2, size * 0.4, (n, 2))
    return np.concatenate([xy, xy + wh], 1)


def test_iou_matches_hand_values_and_torch():
    a = np.array([[0, 0, 10, 10], [5, 5, 15, 15], [20, 20, 30, 30]], float)
    iou = box_iou(a, a)
    assert iou[0, 1] == pytest.approx(25 / 175) and iou[0, 2] == 0 and np.allclose(np.diag(iou), 1)
    rng = np.random.default_rng(0)
    x, y = random_boxes(rng, 20), random_boxes(rng, 30)
    assert np.allclose(box_iou(x, y), tb.box_iou(torch.tensor(x), torch.tensor(y)).numpy())
    iou_t, giou_t = tb.paired_iou_giou(torch.tensor(a[:1]), torch.tensor(a[2:]))
    # disjoint boxes: IoU 0, GIoU = −(hull − union)/hull = −(900 − 200)/900
    assert float(iou_t) == 0 and float(giou_t) == pytest.approx(-700 / 900)


def test_encode_decode_round_trip_numpy_and_torch():
    rng = np.random.default_rng(1)
    anchors = grid_anchors(5, 7, (80, 112), np.array([[10, 20], [30, 15], [40, 40]]))
    assert anchors.shape == (5 * 7 * 3, 4)
    assert np.allclose(anchors[0, :2], [8, 8]) and np.allclose(anchors[3, :2], [24, 8])  # (row, col, k) order
    boxes = xyxy_to_cxcywh(random_boxes(rng, len(anchors)))
    d = encode(boxes, anchors)
    assert np.allclose(decode(d, anchors), boxes, atol=1e-4)
    dt = tb.encode(torch.tensor(boxes), torch.tensor(anchors))
    assert np.allclose(dt.numpy(), d, atol=1e-5)
    assert np.allclose(tb.decode(dt, torch.tensor(anchors)).numpy(), boxes, atol=1e-4)
    assert np.allclose(cxcywh_to_xyxy(xyxy_to_cxcywh(boxes)), boxes)


def test_raw_layout_numpy_equals_torch():
    raw = np.random.default_rng(2).normal(size=(2, 3 * (5 + 4), 4, 6)).astype(np.float32)
    for a, b in zip(split_raw(raw, 3), tb.split_raw(torch.tensor(raw), 3)):
        assert np.allclose(a, b.numpy())
    d, conf, cls = split_raw(raw, 3)
    # anchor (row 1, col 2, k 1): channels 9..17 of cell (1, 2)
    i = (1 * 6 + 2) * 3 + 1
    assert np.allclose(d[0, i], raw[0, 9:13, 1, 2]) and conf[0, i] == raw[0, 13, 1, 2]
    assert np.allclose(cls[0, i], raw[0, 14:18, 1, 2])


@pytest.mark.parametrize("seed", range(5))
def test_nms_matches_cv2(seed):
    rng = np.random.default_rng(seed)
    boxes = random_boxes(rng, 200)
    scores = rng.permutation(200) / 200 + 0.001  # distinct scores, so the order is unambiguous
    for thr in (0.3, 0.5, 0.7):
        ours = nms(boxes, scores, thr)
        xywh = [[float(x1), float(y1), float(x2 - x1), float(y2 - y1)] for x1, y1, x2, y2 in boxes]
        ref = np.asarray(cv2.dnn.NMSBoxes(xywh, scores.tolist(), 0.0, thr)).reshape(-1)
        assert ours.tolist() == ref.tolist()


def test_batched_nms_is_per_class():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 10, 10]], float)
    scores = np.array([0.9, 0.8, 0.7])
    assert sorted(batched_nms(boxes, scores, np.array([0, 0, 1]), 0.5).tolist()) == [0, 2]
    assert nms(boxes, scores, 0.5).tolist() == [0]


def test_select_top_n_nms_threshold():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10.5], [50, 50, 60, 60], [70, 70, 80, 80]], float)
    scores = np.array([[0.9, 0.0], [0.85, 0.0], [0.0, 0.2], [0.6, 0.1]])
    out = select(boxes, scores, PostprocessConfig(top_n=2, nms_iou=0.5, score_threshold=0.1))
    assert out["scores"].tolist() == [0.9]  # box 1 is suppressed by NMS, boxes 2 and 3 are cut by the top-2
    out = select(boxes, scores, PostprocessConfig(top_n=64, nms_iou=0.5, score_threshold=0.3))
    assert out["scores"].tolist() == [0.9, 0.6] and out["labels"].tolist() == [0, 0]  # box 2 is under 0.3
    out = select(boxes, scores, PostprocessConfig(top_n=64, nms_iou=0.5, score_threshold=0.1))
    assert out["scores"].tolist() == [0.9, 0.6, 0.2] and out["labels"].tolist() == [0, 0, 1]


def test_decode_raw_scores_are_conf_times_class_prob():
    raw = np.zeros((1, 2 * (5 + 3), 2, 2), np.float32)
    boxes, scores = decode_raw(raw, np.array([[8, 8], [16, 4]]), (32, 32))
    assert np.allclose(scores, 0.5 / 3) and boxes.shape == (1, 8, 4)
    assert np.allclose(boxes[0, 0], [4, 4, 12, 12]) and np.allclose(boxes[0, 1], [0, 6, 16, 10])


def test_kmeans_anchors_recovers_clusters():
    rng = np.random.default_rng(3)
    centres = np.array([[10, 30], [40, 20], [80, 80]], float)
    wh = np.concatenate([c * rng.uniform(0.95, 1.05, (200, 2)) for c in centres])
    anchors, miou = kmeans_anchors(wh, 3, seed=0)
    assert np.allclose(anchors, centres, rtol=0.03) and miou > 0.9
    assert miou == pytest.approx(float(shape_iou(wh, anchors).max(1).mean()), abs=1e-6)
    more, miou9 = kmeans_anchors(wh, 9, seed=0)
    assert len(more) == 9 and miou9 >= miou
