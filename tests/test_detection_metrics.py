"""Detection metrics: VOC AP on hand-made cases, and COCO mAP against pycocotools on random predictions."""

import contextlib
import io

import numpy as np
import pytest

from edgevision.metrics.detection import evaluate_detections, format_ap_table, voc_ap


def _img(boxes, labels, scores=None, ignore=None):
    d = {"boxes": np.asarray(boxes, float).reshape(-1, 4), "labels": np.asarray(labels, int)}
    if scores is not None:
        d["scores"] = np.asarray(scores, float)
    if ignore is not None:
        d["ignore"] = np.asarray(ignore, bool)
    return d


def test_voc_ap_hand_case():
    gt = [_img([[0, 0, 10, 10], [20, 20, 30, 30]], [0, 0])]
    # TP (0.9), duplicate of the same object = FP (0.8), TP on the second object (0.7)
    det = [_img([[0, 0, 10, 10], [0, 0, 10, 9.5], [20, 20, 30, 31]], [0, 0, 0], [0.9, 0.8, 0.7])]
    m = evaluate_detections(det, gt, ["a"])
    # recall (0.5, 0.5, 1), precision (1, 0.5, 2/3): envelope gives 0.5·1 + 0.5·2/3
    assert m["ap50"] == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert m["ap50_11pt"] == pytest.approx((6 * 1 + 5 * 2 / 3) / 11)
    assert m["per_class"]["a"]["n_gt"] == 2


def test_voc_difficult_is_neither_tp_nor_fp_and_iou_threshold_is_strict():
    gt = [_img([[0, 0, 10, 10], [50, 50, 60, 60]], [0, 0], ignore=[False, True])]
    det = [_img([[50, 50, 60, 60], [0, 0, 10, 10]], [0, 0], [0.9, 0.8])]
    assert evaluate_detections(det, gt, ["a"])["ap50"] == pytest.approx(1.0)
    # IoU exactly 0.5 is not a hit for VOC (the devkit uses ">")
    gt2 = [_img([[0, 0, 10, 10]], [0])]
    det2 = [_img([[0, 0, 10, 5]], [0], [0.9])]
    assert evaluate_detections(det2, gt2, ["a"])["ap50"] == 0.0


def test_voc_ap_curve_formula():
    assert voc_ap(np.array([0.2, 0.4, 0.4, 1.0]), np.array([1.0, 1.0, 0.5, 0.5])) == pytest.approx(0.4 + 0.6 * 0.5)
    assert voc_ap(np.array([1.0]), np.array([1.0]), eleven_point=True) == 1.0


def _random_case(seed, n_images=25, cat_ids=(1, 5, 9)):
    rng = np.random.default_rng(seed)
    gts, dets, coco_gt, coco_dt = [], [], [], []
    images = []
    for i in range(n_images):
        w, h = 200, 150
        images.append({"id": i + 1, "width": w, "height": h, "file_name": f"{i}.jpg"})
        n = rng.integers(0, 6)
        xy = rng.uniform(0, 120, (n, 2))
        wh = rng.uniform(4, 80, (n, 2))
        boxes = np.concatenate([xy, xy + wh], 1)
        labels = rng.integers(0, len(cat_ids), n)
        crowd = rng.random(n) < 0.1
        gts.append(_img(boxes, labels, ignore=crowd))
        for b, c, cr in zip(boxes, labels, crowd):
            coco_gt.append({"id": len(coco_gt) + 1, "image_id": i + 1, "category_id": int(cat_ids[c]),
                            "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]], "area": (b[2] - b[0]) * (b[3] - b[1]),
                            "iscrowd": int(cr)})
        # detections: jittered copies of the truth (sometimes relabelled) plus random boxes
        m = rng.integers(0, 2 * n + 4)
        pick = rng.integers(0, max(n, 1), m)
        src = boxes[pick] if n else np.zeros((m, 4))
        jit = src + rng.normal(0, 4, (m, 4))
        rnd = np.concatenate([rng.uniform(0, 120, (m, 2)), np.zeros((m, 2))], 1)
        rnd[:, 2:] = rnd[:, :2] + rng.uniform(4, 80, (m, 2))
        use_rnd = (rng.random(m) < 0.3) | (n == 0)
        db = np.where(use_rnd[:, None], rnd, jit)
        db[:, 2:] = np.maximum(db[:, 2:], db[:, :2] + 1)
        dl = np.where(use_rnd | (rng.random(m) < 0.2), rng.integers(0, len(cat_ids), m),
                      labels[pick] if n else 0)
        ds = rng.random(m)
        dets.append(_img(db, dl, ds))
        for b, c, s in zip(db, dl, ds):
            coco_dt.append({"image_id": i + 1, "category_id": int(cat_ids[c]),
                            "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]], "score": float(s)})
    cats = [{"id": c, "name": f"c{c}"} for c in cat_ids]
    return gts, dets, {"images": images, "annotations": coco_gt, "categories": cats}, coco_dt


@pytest.mark.parametrize("seed", range(4))
def test_coco_map_matches_pycocotools(seed):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gts, dets, gt_json, dt_json = _random_case(seed)
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt_json
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(dt_json), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    ours = evaluate_detections(dets, gts, ["c1", "c5", "c9"])
    assert ours["map"] == pytest.approx(ev.stats[0], abs=1e-3)
    assert ours["map50"] == pytest.approx(ev.stats[1], abs=1e-3)
    assert ours["map75"] == pytest.approx(ev.stats[2], abs=1e-3)
    assert ours["ar100"] == pytest.approx(ev.stats[8], abs=1e-3)
    assert 0.02 < ours["map"] < 0.9  # a non-trivial case


def test_perfect_and_empty_predictions_and_table():
    gts = [_img([[0, 0, 10, 10]], [0]), _img([[5, 5, 25, 25], [30, 30, 40, 50]], [1, 1])]
    perfect = [_img(g["boxes"], g["labels"], np.ones(len(g["labels"]))) for g in gts]
    m = evaluate_detections(perfect, gts, ["a", "b", "unused"])
    assert m["ap50"] == m["map"] == 1.0 and "unused" not in m["per_class"]
    empty = evaluate_detections([_img([], []) for _ in gts], gts, ["a", "b"])
    assert empty["ap50"] == 0.0 and empty["map"] == 0.0
    table = format_ap_table(m)
    assert "a " in table and "mean" in table and "AP[.5:.95] 1.0000" in table
