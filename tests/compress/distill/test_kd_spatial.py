"""Distillation on per-pixel (segmentation) and per-anchor (detection) outputs: the loss pieces, the base tasks'
distill views inside DistillTask, numerical safety, and the distill stage end to end on synthetic shapes."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from edgevision.cli import main
from edgevision.compress.distill.task import DistillTask, KDConfig
from edgevision.errors import ConfigError
from edgevision.tasks import build_task
from edgevision.tasks.detection_distill import detection_distill_view
from edgevision.tasks.detection_loss import LossWeights, squeezedet_loss
from edgevision.tasks.kd import soft_bce, soft_kl, soft_regression

pytestmark = pytest.mark.usefixtures("one_thread")


def test_soft_bce_golden_and_minimum_at_the_teacher():
    s, t = torch.tensor([1.0, -2.0]), torch.tensor([0.0, 3.0])
    p = torch.sigmoid(t)
    q = torch.sigmoid(s)
    want = float((-(p * q.log() + (1 - p) * (1 - q).log())).mean())
    assert float(soft_bce(s, t)) == pytest.approx(want, rel=1e-6)
    g = torch.zeros(2, requires_grad=True)
    soft_bce(g + t, t).backward()  # d/ds = σ(s) − p_T = 0 at s = t
    assert g.grad.abs().max() < 1e-6
    assert float(soft_bce(s, t, weight=torch.tensor([1.0, 0.0]))) == pytest.approx(
        float(F.binary_cross_entropy(q[:1], p[:1])), rel=1e-6)


def test_soft_regression_golden():
    s = torch.tensor([[[0.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]]])  # (N=1, A=2, 4)
    t = torch.tensor([[[0.05, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]])
    per = torch.tensor([0.5 * 0.05**2 / 0.1, 1.0 - 0.05])  # smooth-L1, β = 0.1: quadratic, then linear
    assert float(soft_regression(s, t)) == pytest.approx(float(per.mean()), rel=1e-6)
    w = torch.tensor([[0.2, 0.6]])
    assert float(soft_regression(s, t, weight=w)) == pytest.approx(float((per * w[0]).sum() / 0.8), rel=1e-6)


@pytest.mark.parametrize("temperature", [1.0, 2.0, 6.0, 20.0])
@pytest.mark.parametrize("bf16", [False, True])
def test_per_pixel_and_per_anchor_pieces_stay_finite_at_extreme_logits(temperature, bf16):
    torch.manual_seed(0)
    dtype = torch.bfloat16 if bf16 else torch.float32
    s = (torch.randn(2, 3, 6, 5) * 1e4).to(dtype).requires_grad_()
    t = (torch.randn(2, 3, 6, 5) * 1e4).to(dtype)
    valid = torch.rand(2, 6, 5) > 0.5
    conf_s = (torch.randn(2, 30) * 1e4).to(dtype).requires_grad_()
    box_s = (torch.randn(2, 30, 4) * 1e4).to(dtype).requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        loss = (soft_kl(s, t, temperature, weight=valid) + soft_bce(conf_s, conf_s.detach() * -1)
                + soft_regression(box_s, torch.zeros_like(box_s)))
    assert torch.isfinite(loss)
    loss.backward()
    for g in (s.grad, conf_s.grad, box_s.grad):
        assert torch.isfinite(g).all()
    assert (s.grad[~valid.unsqueeze(1).expand_as(s)] == 0).all()  # ignored pixels get no gradient


def test_all_positions_ignored_gives_zero_not_nan():
    s = torch.randn(1, 2, 3, 3, requires_grad=True)
    loss = soft_kl(s, torch.randn(1, 2, 3, 3), 4.0, weight=torch.zeros(1, 3, 3, dtype=torch.bool))
    loss.backward()
    assert float(loss.detach()) == 0 and torch.isfinite(s.grad).all()


class _Fixed(torch.nn.Module):
    """A 'model' whose output is a trainable tensor (the raw map of a hand-made case)."""

    def __init__(self, out: torch.Tensor) -> None:
        super().__init__()
        self.out = torch.nn.Parameter(out.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out.expand(len(x), *self.out.shape[1:])


def _det_task(**options):
    return build_task({"name": "detection", "class_names": ["a", "b"], "anchors": [[8.0, 8.0]],
                       "input_size": [16, 16], **options})


def test_detection_hand_case_through_distill_task():
    # one cell, one anchor, two classes: raw = (δx, δy, δw, δh, conf, z_a, z_b)
    teacher = torch.tensor([0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 0.0]).view(1, 7, 1, 1)
    student = torch.tensor([0.1, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]).view(1, 7, 1, 1)
    base = _det_task(distill_conf=2.0, distill_box=3.0, distill_box_beta=1.0)
    kd = KDConfig(temperature=2.0, alpha=0.75)
    task = DistillTask(base, lambda batch: teacher.expand(len(batch["image"]), -1, -1, -1), kd)
    model = _Fixed(student).train()
    batch = {"image": torch.zeros(1, 3, 16, 16), "boxes": [torch.tensor([[2.0, 2.0, 10.0, 10.0]])],
             "labels": [torch.tensor([1])]}
    out = task.step(model, batch)
    pt = torch.softmax(torch.tensor([1.0, 0.0]), 0)  # teacher logits / T; the student's are uniform
    kl = float((pt * (pt.log() - math.log(0.5))).sum())
    sig = 1 / (1 + math.exp(-1))
    bce = -(0.5 * math.log(sig) + 0.5 * math.log(1 - sig))  # p_T = σ(0) = 0.5
    box = 0.5 * 0.1**2  # smooth-L1 (β = 1) of δx = 0.1; the p_T weight cancels with one anchor
    hard = squeezedet_loss(student, base.grid(1, 1, (16, 16)), batch["boxes"], batch["labels"], LossWeights())
    assert float(out["loss_soft"]) == pytest.approx(4 * kl, rel=1e-5)  # T² · KL
    assert float(out["loss_kd_conf"]) == pytest.approx(2 * bce, rel=1e-5)
    assert float(out["loss_kd_box"]) == pytest.approx(3 * box, rel=1e-5)
    assert float(out["loss_hard"]) == pytest.approx(float(hard["loss"]), rel=1e-5)
    assert {"loss_bbox", "loss_conf", "loss_class"} <= set(out)  # the detection meter still gets its parts
    want = 0.75 * (4 * kl + 2 * bce + 3 * box) + 0.25 * float(hard["loss"])
    assert float(out["loss"].detach()) == pytest.approx(want, rel=1e-5)
    out["loss"].backward()
    assert torch.isfinite(model.out.grad).all() and model.out.grad.abs().sum() > 0
    m = task.meter()
    m.update({k: v.detach() if isinstance(v, torch.Tensor) else v for k, v in out.items()}, batch)
    assert "loss_kd_box" in m.compute()


def test_detection_view_weights_anchors_by_teacher_objectness():
    torch.manual_seed(0)
    k, c = 2, 3
    s, t = torch.randn(2, k * (5 + c), 3, 4), torch.randn(2, k * (5 + c), 3, 4)
    t.view(2, k, 5 + c, 3, 4)[:, 0, 4] = -1e4  # anchor 0 of every cell: the teacher sees background
    v = detection_distill_view(s, t, k)
    assert v.student.shape == (2, c, 3 * 4 * k) and v.weight.shape == (2, 3 * 4 * k)
    s2 = s.clone()
    s2.view(2, k, 5 + c, 3, 4)[:, 0, :4] += 5.0  # moving background anchors' boxes changes nothing
    s2.view(2, k, 5 + c, 3, 4)[:, 0, 5:] -= 7.0  # nor their class logits
    v2 = detection_distill_view(s2, t, k)
    assert float(v2.extra["box"]) == pytest.approx(float(v.extra["box"]), abs=1e-5)
    assert float(soft_kl(v2.student, v2.teacher, 2.0, weight=v2.weight)) == pytest.approx(
        float(soft_kl(v.student, v.teacher, 2.0, weight=v.weight)), abs=1e-5)


def _seg_data(size=64):
    return ["--data", "synthetic:shapes", "--input-size", str(size), "--set", "data.options.n_train=16", "--set",
            "data.options.n_val=8", "--set", "data.options.n_test=8", "--set", "data.options.num_classes=2"]


@pytest.mark.slow
def test_segmentation_distill_cli_online_offline_and_errors(tmp_path, capsys):
    t = tmp_path / "teacher"
    assert main(["train", "--model", "enet", "--model-kwargs", "width_mult=0.25", *_seg_data(), "--epochs", "1",
                 "--batch-size", "8", "--optimizer", "adam", "--lr", "0.01", "--out", str(t)]) == 0
    d = tmp_path / "student"
    assert main(["distill", "--teacher", str(t), "--student", "fastlinknet", "--student-kwargs", "width_mult=0.25",
                 "--epochs", "1", "--batch-size", "8", "--alpha", "0.5", "--temperature", "2", "--out", str(d)]) == 0
    assert "test miou: student" in capsys.readouterr().out
    card = json.loads((d / "card.json").read_text())
    assert card["task"]["name"] == "segmentation" and card["model"]["name"] == "fastlinknet"
    assert card["distillation"]["metric"] == "miou"
    rep = json.loads((d / "distill.json").read_text())
    assert 0 <= rep["teacher"]["test"]["miou"] <= 1 and 0 <= rep["student"]["test"]["miou"] <= 1
    hist = [json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines()]
    assert hist[0]["train_loss_soft"] > 0 and "train_loss_hard" in hist[0]
    # offline: the cache holds per-pixel logit maps (N, C, H, W); geometric augmentation is refused
    cache = tmp_path / "cache"
    assert main(["distill", "--teacher", str(t), "--student", "fastlinknet", "--student-kwargs", "width_mult=0.25",
                 "--epochs", "1", "--batch-size", "8", "--mode", "offline", "--cache-dir", str(cache),
                 "--out", str(tmp_path / "off")]) == 0
    meta = json.loads(next(cache.glob("*/meta.json")).read_text())
    assert meta["shape"] == [16, 3, 64, 64]
    capsys.readouterr()
    code = main(["distill", "--teacher", str(t), "--student", "fastlinknet", "--mode", "offline", "--set",
                 "augment.hflip=0.5", "--out", str(tmp_path / "bad")])
    err = capsys.readouterr().err
    assert code != 0 and "augment.hflip" in err and "online" in err and "Traceback" not in err


def test_detection_distill_end_to_end(tmp_path, capsys):
    data = ["--data", "synthetic:shapes", "--input-size", "48", "--set", "data.options.n_train=16", "--set",
            "data.options.n_val=8", "--set", "data.options.n_test=8", "--set", "data.options.num_classes=3",
            "--set", "data.options.max_objects=2"]
    t = tmp_path / "teacher"
    assert main(["train", "--model", "squeezedet_small", "--task", "detection", *data, "--epochs", "1",
                 "--batch-size", "8", "--optimizer", "adamw", "--lr", "0.003", "--task-options", "anchors=3",
                 "--out", str(t)]) == 0
    d = tmp_path / "student"
    assert main(["distill", "--teacher", str(t), "--student", "squeezedet_small", "--student-kwargs", "dropout=0",
                 "--task-options", "distill_box=2", "--epochs", "1", "--batch-size", "8", "--optimizer", "adamw",
                 "--lr", "0.003", "--out", str(d)]) == 0
    tc, sc = json.loads((t / "card.json").read_text()), json.loads((d / "card.json").read_text())
    assert sc["task"]["name"] == "detection" and sc["task"]["anchors"] == tc["task"]["anchors"]  # teacher's anchors
    assert sc["task"]["distill_box"] == 2
    hist = json.loads((d / "metrics.jsonl").read_text().splitlines()[0])
    assert {"train_loss_kd_conf", "train_loss_kd_box", "train_loss_soft", "train_loss_bbox"} <= set(hist)
    assert all(math.isfinite(hist[k]) for k in ("train_loss", "train_loss_kd_box"))
    assert "ap50" in sc["metrics"]["test"]
    capsys.readouterr()
    # a student with a different grid cannot learn per-anchor targets: one clear line
    code = main(["distill", "--teacher", str(t), "--student", "squeezedet_small", "--input-size", "64",
                 "--epochs", "1", "--out", str(tmp_path / "bad")])
    err = capsys.readouterr().err
    assert code != 0 and "same grid" in err and "Traceback" not in err


def test_detector_artifact_teaches_presence_and_itself(tmp_path):
    from edgevision.artifacts import save_model
    from edgevision.compress.distill.teachers import ArtifactScoreTeacher, ArtifactTeacher, build_teacher
    from edgevision.models import build_model

    model = build_model("squeezedet_small", num_classes=2, num_anchors=2)
    pre = {"input_size": [32, 32], "channels": 3, "mean": [0.5] * 3, "std": [0.25] * 3}
    task = {"name": "detection", "class_names": ["car", "person"], "anchors": [[8, 8], [16, 16]],
            "input_size": [32, 32]}
    path = save_model(tmp_path / "det.pt", model, task=task, preprocess=pre)
    presence = build_teacher(str(path))  # a classifier student: p(person) through the registered scorer
    assert isinstance(presence, ArtifactScoreTeacher)
    presence.prepare(None, ["no_person", "person"])
    p = presence.logits(torch.rand(3, 3, 24, 24)).softmax(1)
    assert p.shape == (3, 2) and torch.allclose(p.sum(1), torch.ones(3))
    same = build_teacher(str(path), task=None)  # a detection student: the raw ConvDet map
    assert isinstance(same, ArtifactTeacher) and same.logits(torch.rand(2, 3, 32, 32)).shape[:2] == (2, 2 * 7)
    with pytest.raises(ConfigError, match="cannot teach a 'segmentation' student"):
        build_teacher(str(path), task="segmentation")


@pytest.mark.parametrize("op", [{"mosaic": {"p": 1.0}}, {"mixup": {"p": 0.5}}, {"hflip": 0.5}])
def test_offline_distillation_refuses_augmentations_that_move_targets(op):
    """Cached teacher outputs are for un-augmented images: a mosaic, a mixup or a flip would misalign them."""
    from types import SimpleNamespace

    from edgevision.compress.distill.stage import check_options
    from edgevision.data.augment import AugmentConfig
    from edgevision.errors import ConfigError

    cfg = SimpleNamespace(mode="offline", augment=AugmentConfig.model_validate(op), hints=None)
    with pytest.raises(ConfigError, match=f"augment.{next(iter(op))} moves pixels and boxes"):
        check_options(cfg, SimpleNamespace(module=None, name="t"), SimpleNamespace(spatial_output=True,
                                                                                    name="detection"))
    check_options(SimpleNamespace(mode="online", augment=cfg.augment, hints=None), None,
                  SimpleNamespace(spatial_output=True, name="detection"))  # online: fine
