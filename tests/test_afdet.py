"""The anchor-free detector: model layout, points and decode, CIoU / DFL / BCE golden values, task-aligned
assignment on hand-made cases, training through the task, and export parity in onnxruntime and cv2.dnn."""

import math

import numpy as np
import pytest
import torch

from conftest import tiny_data
from edgevision.data import DataConfig, load_data
from edgevision.models import build_model
from edgevision.ops.points import decode_points, make_points
from edgevision.ops.torch_boxes import paired_ciou
from edgevision.tasks.afdet_loss import AFDetLossConfig, afdet_loss, dfl_loss, task_aligned_assign
from edgevision.tasks.detection import DetectionTask

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("name", ["afdet_mobilenet", "afdet_squeezenet", "afdet_resnet"])
def test_output_is_one_tensor_over_the_points_of_three_levels(name):
    model = build_model(name, num_classes=3, reg_max=4, width_mult=0.25).eval()
    with torch.no_grad():
        y = model(torch.randn(2, 3, 64, 96))
    pts, st = make_points((64, 96), (8, 16, 32))
    assert y.shape == (2, 8 * 12 + 4 * 6 + 2 * 3, 4 * 5 + 3) and len(pts) == y.shape[1]
    assert torch.allclose(model.heads[0].cls[-1].bias, torch.full((3,), -math.log(99)))  # σ = 0.01 prior
    assert list(np.unique(st)) == [8, 16, 32]


def test_points_are_cell_centres_in_level_then_row_major_order():
    pts, st = make_points((64, 32), (8, 16, 32))
    assert pts[:2].tolist() == [[4, 4], [12, 4]] and pts[4].tolist() == [4, 12]  # 4 columns at stride 8
    assert pts[32].tolist() == [8, 8] and st[32] == 16 and pts[-1].tolist() == [16, 48] and st[-1] == 32
    with pytest.raises(ValueError, match="multiples of 32"):
        make_points((48, 64), (8, 16, 32))


def test_decode_is_point_minus_and_plus_stride_times_the_bin_expectation():
    r = 4
    raw = np.zeros((1, 84, 4 * (r + 1) + 2), np.float32)  # 64×64 → 64 + 16 + 4 points
    raw[0, 0, 4 * (r + 1)] = 2.0  # class 0 logit of point 0
    raw[0, 0, 0:5] = [0, 0, 0, 30, 0]  # left side: all mass on bin 3
    boxes, scores = decode_points(raw, (64, 64), (8, 16, 32), r)
    # uniform bins elsewhere: E = 2 bins; point 0 is (4, 4) at stride 8: left 3·8 = 24 (clipped to 0), others 16
    assert boxes[0, 0].tolist() == pytest.approx([0, 0, 20, 20], abs=1e-4)
    assert boxes[0, 83].tolist() == pytest.approx([0, 0, 64, 64])  # stride 32 point (48, 48), ±64, clipped
    assert scores[0, 0, 0] == pytest.approx(1 / (1 + math.exp(-2))) and scores[0, 1, 1] == pytest.approx(0.5)


def test_ciou_golden_values():
    a = torch.tensor([[0.0, 0, 2, 2], [0, 0, 2, 2], [0, 0, 2, 2]])
    b = torch.tensor([[0.0, 0, 2, 2], [1, 0, 3, 2], [0, 0, 4, 2]])
    iou, ciou = paired_ciou(a, b)
    v = 4 / math.pi**2 * (math.atan(2) - math.atan(1)) ** 2
    assert iou.tolist() == pytest.approx([1, 1 / 3, 0.5])
    # same box; shifted by 1 (ρ² = 1, c² = 3² + 2², same aspect); wider target (ρ² = 1, c² = 4² + 2², α·v)
    assert ciou.tolist() == pytest.approx([1, 1 / 3 - 1 / 13, 0.5 - 1 / 20 - v / (0.5 + v) * v], abs=1e-6)


def test_dfl_golden_value():
    bins = torch.tensor([[[0.0, 1.0, 2.0, 0.0, 0.0]] * 4])  # (1, 4 sides, 5 bins)
    target = torch.tensor([[2.3, 0.0, 3.99, 1.5]])
    logp = torch.log_softmax(bins[0, 0], -1)
    want = [-(0.7 * logp[2] + 0.3 * logp[3]), -logp[0], -(0.01 * logp[3] + 0.99 * logp[4]),
            -(0.5 * logp[1] + 0.5 * logp[2])]
    assert float(dfl_loss(bins, target)[0]) == pytest.approx(float(sum(want) / 4), rel=1e-5)


def _line_case():
    # six points on a row at x = 4, 12, …, 44 (y = 4); box 0 covers x ∈ [0, 30], box 1 covers x ∈ [20, 50]
    points = torch.tensor([[4.0 + 8 * i, 4.0] for i in range(6)])
    gt = torch.tensor([[[0.0, 0, 30, 8], [20, 0, 50, 8], [0, 0, 0, 0]]])
    labels = torch.tensor([[0, 1, 0]])
    valid = torch.tensor([[True, True, False]])  # the third box is padding
    return points, gt, labels, valid


def test_task_aligned_assignment_takes_the_top_k_inside_and_resolves_overlaps_by_iou():
    points, gt, labels, valid = _line_case()
    cls = torch.zeros(1, 6, 2)
    cls[0, :, 0] = torch.tensor([2.0, 1, 0, -1, -2, -3])  # class-0 scores fall along the row (no ties)
    pred = gt[0, 0].expand(1, 6, 4).clone()  # every point predicts box 0 exactly …
    pred[0, 3] = gt[0, 1]  # … except point 3 (x = 28, inside both boxes), which predicts box 1
    pred[0, 4] = torch.tensor([20.0, 0, 40, 8])  # point 4 predicts most of box 1
    a = task_aligned_assign(cls, pred, points, gt, labels, valid, topk=2, alpha=1.0, beta=6.0)
    # box 0 (x ≤ 30 holds points 0–3): t = σ(2), σ(1), σ(0) at IoU 1 → top-2 are points 0, 1.
    # box 1 (x ≥ 20 holds points 3–5): t = 0.5·IoU⁶ with IoU 1, 2/3, 1/5 → points 3, 4.
    assert a.fg[0].tolist() == [True, True, False, True, True, False]
    assert a.gt_idx[0, [0, 1, 3, 4]].tolist() == [0, 0, 1, 1]
    assert a.boxes[0, 4].tolist() == [20, 0, 50, 8]
    # soft targets: t̂ = t · max IoU / max t per box (its best point gets its best IoU, 1)
    sig = torch.sigmoid(torch.tensor([1.0, 2.0]))
    assert a.scores[0, :, 0].tolist() == pytest.approx([1, float(sig[0] / sig[1]), 0, 0, 0, 0])
    assert a.scores[0, 4, 1] == pytest.approx((2 / 3) ** 6) and a.scores[0, 3, 1] == pytest.approx(1)
    # a point inside two boxes that both pick it keeps the box it overlaps most
    pred2 = pred.clone()
    pred2[0, 3] = torch.tensor([20.0, 0, 34, 8])  # IoU with box 0: 80/272, with box 1: 112/240 → box 1
    both = task_aligned_assign(cls, pred2, points, gt, labels, valid, topk=4)
    assert both.fg[0, 3] and both.gt_idx[0, 3] == 1 and both.scores[0, 3, 0] == 0
    assert both.fg[0].tolist() == [True] * 6  # top-4 takes every point inside each box


def test_loss_without_objects_is_the_class_bce_only():
    cfg = AFDetLossConfig(reg_max=4)
    raw = torch.zeros(2, 84, 4 * 5 + 3, requires_grad=True)
    pts, st = (torch.from_numpy(v) for v in make_points((64, 64), (8, 16, 32)))
    empty = [torch.zeros(0, 4)] * 2
    out = afdet_loss(raw, pts, st, empty, [torch.zeros(0, dtype=torch.long)] * 2, cfg)
    assert float(out["loss_class"]) == pytest.approx(0.5 * 2 * 84 * 3 * math.log(2), rel=1e-5)
    assert float(out["loss_box"]) == 0 and float(out["loss_dfl"]) == 0
    out["loss"].backward()
    assert torch.isfinite(raw.grad).all()


def test_task_dispatches_on_the_model_head_and_round_trips():
    from edgevision.tasks import build_task

    task = DetectionTask(["a", "b"], anchors=[[10, 10]], input_size=[64, 64])
    kw = task.adapt_model_kwargs({"num_classes": 2, "reg_max": 6}, {"task": "detection", "head": "points"})
    assert kw == {"num_classes": 2, "reg_max": 6} and task.head == "points"
    again = build_task(task.to_dict())
    assert again.head == "points" and again.opts.reg_max == 6
    with pytest.raises(Exception, match="multiples of 32"):
        DetectionTask(["a"], anchors=[[10, 10]], input_size=[48, 48]).adapt_model_kwargs(
            {}, {"task": "detection", "head": "points"})


def _fit(steps: int, n: int = 8):
    torch.manual_seed(0)
    splits = load_data(DataConfig(**tiny_data(n_train=n, size=64, classes=2, max_objects=2)), "detection")
    task = DetectionTask.for_data(splits, anchors=1)
    kw = task.adapt_model_kwargs({"num_classes": 2, "width_mult": 0.25}, {"task": "detection", "head": "points"})
    model = build_model("afdet_mobilenet", **kw)
    batch = splits.train.get_batch(torch.arange(n))
    batch["image"] = (batch["image"].float() / 255 - 0.5) / 0.25
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    losses = []
    for _ in range(steps):
        out = task.step(model.train(), batch)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(float(out["loss"].detach()))
    return task, model, batch, splits, losses


def test_a_few_steps_fit_one_batch():
    *_, losses = _fit(12)
    assert losses[-1] < 0.7 * losses[0]


@pytest.mark.slow
def test_overfitting_a_few_images_reaches_full_ap():
    """Loss and decode agree on the layout (level order, row-major points, bin order, class channels)."""
    task, model, batch, _, _ = _fit(150)
    meter = task.meter()
    with torch.no_grad():
        meter.update({**task.step(model.eval(), batch)}, batch)
    assert meter.compute()["ap50"] > 0.9


@pytest.mark.parametrize("decode_in", ["graph", "numpy"])
def test_export_parity_in_onnxruntime_and_cv2(tmp_path, decode_in):
    from edgevision.deploy.detection import export_detector
    from edgevision.deploy.detector_runtime import OnnxDetector

    task = DetectionTask(["a", "b"], anchors=[[10, 10]], input_size=[64, 64], score_threshold=0.0)
    kw = task.adapt_model_kwargs({"num_classes": 2, "width_mult": 0.25}, {"task": "detection", "head": "points"})
    model = build_model("afdet_squeezenet", **kw).eval()
    torch.manual_seed(0)
    for head in model.heads:  # spread the untrained scores and boxes, so the top-N order has no ties
        for conv in (head.cls[-1], head.box[-1]):
            torch.nn.init.normal_(conv.weight, std=0.3)
    pre = {"input_size": [64, 64], "channels": 3, "mean": [0.5] * 3, "std": [0.25] * 3}
    path, _ = export_detector(model, tmp_path / "d.onnx", task.to_dict() | {"name": "detection"}, pre, decode_in,
                              dynamic_batch=False)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (64, 64, 3), dtype=np.uint8) for _ in range(2)]
    ort, cv = OnnxDetector(path, "onnxruntime", score_threshold=0.0), OnnxDetector(path, "cv2", score_threshold=0.0)
    x = ort.preprocess(images)
    assert np.abs(ort.raw(x) - cv.raw(x)).max() < 1e-3
    with torch.no_grad():
        ref_boxes, ref_scores = task.decode_numpy(model(torch.from_numpy(x)).numpy(), (64, 64))
    for det in (ort, cv):  # decoded boxes (pixels) and scores of every point, before top-N and NMS
        boxes, scores = det.decode(det.raw(x))
        assert np.abs(boxes - ref_boxes).max() < 1e-3 and np.abs(scores - ref_scores).max() < 1e-4
    assert len(ort(images)) == 2


def test_int8_quantization_of_the_raw_export_runs_and_agrees(tmp_path):
    """Static int8 (QDQ) of the bare network (decode in NumPy): the decoded boxes and scores stay close."""
    import shutil

    from edgevision.deploy.detection import export_detector
    from edgevision.deploy.detector_runtime import OnnxDetector
    from edgevision.deploy.int8.graph import prepare_for_int8, quantize_int8

    torch.manual_seed(0)
    task = DetectionTask(["a"], anchors=[[10, 10]], input_size=[64, 64], score_threshold=0.0)
    kw = task.adapt_model_kwargs({"num_classes": 1, "width_mult": 0.25}, {"task": "detection", "head": "points"})
    model = build_model("afdet_mobilenet", **kw).eval()
    pre = {"input_size": [64, 64], "channels": 3, "mean": [0.5] * 3, "std": [0.25] * 3}
    fp32, side = export_detector(model, tmp_path / "d.onnx", task.to_dict(), pre, "numpy", dynamic_batch=False)
    x = np.random.default_rng(0).standard_normal((16, 3, 64, 64)).astype(np.float32)
    int8 = quantize_int8(prepare_for_int8(fp32, tmp_path / "p.onnx"), tmp_path / "q.onnx", x[:8])
    shutil.copy(side, int8.with_suffix(".json"))
    a, b = OnnxDetector(fp32), OnnxDetector(int8)
    (ba, sa), (bb, sb) = a.decode(a.raw(x[8:])), b.decode(b.raw(x[8:]))
    assert np.median(np.abs(ba - bb)) < 2.0 and np.abs(sa - sb).max() < 0.05  # pixels at 64², probabilities


def test_train_eval_predict_through_the_cli(tmp_path, capsys):
    import json

    import cv2

    from edgevision.artifacts import load_artifact
    from edgevision.cli import main
    from edgevision.tasks.detection import class_probability

    data = ["--data", "synthetic:shapes", "--input-size", "64", "--set", "data.options.n_train=16", "--set",
            "data.options.n_val=8", "--set", "data.options.n_test=8", "--set", "data.options.num_classes=2"]
    run = tmp_path / "train"
    assert main(["train", "--model", "afdet_squeezenet", "--task", "detection", *data, "--epochs", "1",
                 "--batch-size", "8", "--model-kwargs", "width_mult=0.25", "--out", str(run)]) == 0
    card = json.loads((run / "card.json").read_text())
    assert card["task"]["head"] == "points" and "ap50" in card["metrics"]["test"]
    assert main(["eval", str(run), "--out", str(tmp_path / "ev")]) == 0
    assert "AP50-11pt" in "".join(capsys.readouterr())
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    cv2.imwrite(str(imgs / "a.png"), np.full((50, 70, 3), 90, np.uint8))
    assert main(["predict", str(run), str(imgs), "--out", str(tmp_path / "pr")]) == 0
    line = json.loads((tmp_path / "pr" / "predictions.jsonl").read_text().splitlines()[0])
    assert "detections" in line and cv2.imread(str(tmp_path / "pr" / "a.png")).shape == (50, 70, 3)
    art = load_artifact(run)
    p = class_probability(art.model.eval(), torch.zeros(2, 3, 64, 64), 1)
    assert p.shape == (2,) and bool(((p > 0) & (p < 1)).all())


def test_points_distillation_golden_values():
    from edgevision.tasks.afdet_distill import points_distill_view
    from edgevision.tasks.kd import soft_kl

    r = 2
    t = torch.zeros(1, 2, 4 * (r + 1) + 1)
    t[0, 0, -1], t[0, 1, -1] = 2.0, -2.0  # teacher quality σ(2), σ(−2) at the two points
    s = t.clone()
    same = points_distill_view(s, t, r, conf=1.0)
    assert float(soft_kl(same.student, same.teacher, 2.0, weight=same.weight)) == pytest.approx(0, abs=1e-6)
    q = torch.sigmoid(torch.tensor([2.0, -2.0]))
    entropy = float(-(q * q.log() + (1 - q) * (1 - q).log()).mean())
    assert float(same.extra["conf"]) == pytest.approx(entropy, rel=1e-5)  # BCE to itself = the teacher's entropy
    s[0, 1, 0:3] = torch.tensor([4.0, 0, 0])  # point 1's left side differs; its weight is σ(−2)
    v = points_distill_view(s, t, r)
    assert v.student.shape == (1, r + 1, 8) and v.weight[0].tolist() == pytest.approx([float(q[0])] * 4 +
                                                                                      [float(q[1])] * 4)
    p_t, log_s = torch.full((3,), 1 / 3), torch.log_softmax(torch.tensor([2.0, 0, 0]), 0)  # at T = 2
    kl = float((p_t * (p_t.log() - log_s)).sum())
    want = 4 * float(q[1]) * kl / (4 * float(q.sum()))  # T² · Σ q·KL / Σ q over the 8 sides
    assert float(soft_kl(v.student, v.teacher, 2.0, weight=v.weight)) == pytest.approx(want, rel=1e-5)


def test_distill_an_afdet_teacher_into_an_afdet_student(tmp_path):
    import json

    from edgevision.cli import main

    data = ["--data", "synthetic:shapes", "--input-size", "64", "--set", "data.options.n_train=16", "--set",
            "data.options.n_val=8", "--set", "data.options.n_test=8", "--set", "data.options.num_classes=2"]
    teacher = tmp_path / "t"
    assert main(["train", "--model", "afdet_resnet", "--task", "detection", *data, "--epochs", "1",
                 "--batch-size", "8", "--model-kwargs", "width_mult=0.25", "--out", str(teacher)]) == 0
    out = tmp_path / "kd"
    assert main(["distill", "--teacher", str(teacher), "--student", "afdet_squeezenet", "--student-kwargs",
                 "width_mult=0.25", "--alpha", "0.5", "--temperature", "2", "--epochs", "1", "--batch-size", "8",
                 "--out", str(out)]) == 0
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert "train_loss_kd_conf" in rows[-1] and "ap50" in json.loads((out / "card.json").read_text())["metrics"][
        "test"]


def test_class_probability_reads_decoded_and_point_outputs_without_model_attributes():
    """An ONNX teacher has no reg_max / num_classes attributes: the task spec's values tell the layouts apart."""
    from edgevision.tasks.detection import class_probability

    decoded = torch.zeros(2, 5, 4 + 2)
    decoded[0, 3, 5], decoded[1, 1, 5] = 0.9, 0.4  # scores of class 1
    p = class_probability(lambda x: decoded, torch.zeros(2, 3, 8, 8), 1, num_classes=2)
    assert torch.allclose(p, torch.tensor([0.9, 0.4]))
    points = torch.full((1, 5, 4 * 9 + 2), -5.0)
    points[0, 2, 4 * 9 + 1] = 0.0  # σ(0) = 0.5 for class 1 at point 2
    q = class_probability(lambda x: points, torch.zeros(1, 3, 8, 8), 1, reg_max=8, num_classes=2)
    assert torch.allclose(q, torch.tensor([0.5]))
