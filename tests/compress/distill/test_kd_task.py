"""DistillTask inside the one Trainer: consistent teaching, phases, objectives, and trained hint adapters."""

from __future__ import annotations

import pytest
import torch
from kd_helpers import RecordingTeacher

from conftest import tiny_data
from edgevision.compress.distill.hints import HintConfig, HintSet
from edgevision.compress.distill.task import DistillTask, KDConfig, OnlineTeacher, PhaseSchedule
from edgevision.configs.train import TrainConfig
from edgevision.data import AugmentConfig, DataConfig, load_data
from edgevision.models import build_model
from edgevision.runs import RunDir
from edgevision.tasks.kd import hinton_loss, kd_bce_loss
from edgevision.train.stage import make_loaders, make_task
from edgevision.train.trainer import Trainer


@pytest.fixture
def splits():
    return load_data(DataConfig.model_validate(tiny_data(n_train=32)), "classification")


def _setup(splits, kd: KDConfig, augment: AugmentConfig | None = None, epochs: int = 1, **cfg):
    teacher = RecordingTeacher(len(splits.class_names))
    base = make_task("classification", splits)
    task = DistillTask(base, OnlineTeacher(teacher, splits.mean, splits.std), kd)
    tc = TrainConfig(epochs=epochs, batch_size=16, lr=0.01, **cfg)
    loaders = make_loaders(splits, tc, augment, 0)
    student = build_model("student_cnn", width=4, depth=2, num_classes=len(splits.class_names))
    return teacher, task, student, tc, loaders


def test_online_teacher_sees_the_exact_augmented_batch(splits):
    teacher, task, student, _tc, (train_l, *_) = _setup(splits, KDConfig(), AugmentConfig(hflip=1.0))
    train_l.set_epoch(0)
    batch = next(iter(train_l))
    raw = splits.train.get_batch(train_l._batches()[0])["image"].float() / 255
    student.train()
    out = task.step(student, batch)
    seen = teacher.seen[0]
    assert torch.allclose(seen, raw.flip(-1), atol=1e-5)  # the flipped pixels, not the originals
    assert not torch.allclose(seen, raw, atol=1e-3)
    assert set(out) >= {"loss", "output", "loss_soft", "loss_hard"}


def test_loss_matches_hinton_and_eval_skips_teacher(splits):
    teacher, task, student, _tc, (train_l, val_l, _) = _setup(splits, KDConfig(temperature=3, alpha=0.7))
    batch = next(iter(train_l))
    student.train()
    out = task.step(student, batch)
    with torch.no_grad():
        t = teacher.module((batch["image"] * torch.tensor(splits.std).view(1, -1, 1, 1)
                            + torch.tensor(splits.mean).view(1, -1, 1, 1)).clamp(0, 1))
    ref = hinton_loss(out["output"], t, batch["label"], 3.0, 0.7)
    assert out["loss"].item() == pytest.approx(ref.item(), rel=1e-5)
    n = len(teacher.seen)
    student.eval()
    assert set(task.step(student, next(iter(val_l)))) == {"loss", "output"}
    assert len(teacher.seen) == n


def test_kl_bce_objective(splits):
    two = load_data(DataConfig.model_validate(tiny_data(n_train=32, classes=2)), "classification")
    teacher, task, student, _tc, (train_l, *_) = _setup(two, KDConfig(objective="kl+bce", temperature=2, alpha=1,
                                                                      beta=0.5))
    batch = next(iter(train_l))
    student.train()
    out = task.step(student, batch)
    t = teacher.module((batch["image"] * torch.tensor(two.std).view(1, -1, 1, 1)
                        + torch.tensor(two.mean).view(1, -1, 1, 1)).clamp(0, 1)).detach()
    ref = kd_bce_loss(out["output"], t, batch["label"], 2.0, 1.0, 0.5)
    assert out["loss"].item() == pytest.approx(ref.item(), rel=1e-5)


def test_soft_then_hard_schedule(splits, tmp_path):
    teacher, task, student, tc, (train_l, val_l, _) = _setup(splits, KDConfig(soft_epochs=1), epochs=2)
    run = RunDir(tmp_path / "r").mkdir()
    trainer = Trainer(student, task, train_l, val_l, tc, run, callbacks=[PhaseSchedule(task)], verbose=False)
    state = trainer.fit()
    first, second = state.history
    assert "train_loss_soft" in first and "train_loss_hard" not in first
    assert "train_loss_hard" in second and "train_loss_soft" not in second
    assert len(teacher.seen) == len(train_l)  # the teacher runs in the soft epoch only


def test_hint_adapters_are_trained_and_resumed(splits, tmp_path):
    teacher_net = build_model("resnet8", num_classes=len(splits.class_names)).eval()
    base = make_task("classification", splits)
    student = build_model("student_cnn", width=4, depth=2, num_classes=len(splits.class_names))
    shape = (3, *splits.input_size)
    hints = HintSet(student, teacher_net, [HintConfig(student="features.1", teacher="stages.1")], shape, shape)

    class Net:  # a teacher source that runs the resnet (filling its tap) and returns its logits
        def __call__(self, batch):
            with torch.no_grad():
                return teacher_net(batch["image"])

    task = DistillTask(base, Net(), KDConfig(), hints)
    tc = TrainConfig(epochs=2, batch_size=16, lr=0.05)
    train_l, val_l, _ = make_loaders(splits, tc, None, 0)
    before = hints.adapters["0"].adapter.weight.detach().clone()
    run = RunDir(tmp_path / "r").mkdir()
    trainer = Trainer(student, task, train_l, val_l, tc, run, verbose=False)
    assert any(p is hints.adapters["0"].adapter.weight for g in trainer.opt.param_groups for p in g["params"])
    trainer.fit()
    after = hints.adapters["0"].adapter.weight.detach().clone()
    assert not torch.allclose(before, after)
    assert "train_loss_hint" in trainer.state.history[0]
    # a resumed trainer restores the adapters from last.pt
    with torch.no_grad():
        hints.adapters["0"].adapter.weight.zero_()
    resumed = Trainer(student, task, train_l, val_l, tc, run, verbose=False)
    resumed.load_checkpoint()
    assert torch.allclose(hints.adapters["0"].adapter.weight, after)
    assert not any(k.startswith("0.") or "adapter" in k for k in student.state_dict())  # not part of the model


def test_average_grads_of_task_modules(tmp_path):
    import torch.distributed as dist

    from edgevision.train.distributed import average_grads

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:
        m = torch.nn.Linear(3, 2)
        m(torch.ones(1, 3)).sum().backward()
        before = m.weight.grad.clone()
        average_grads(m)
        assert torch.allclose(m.weight.grad, before)
    finally:
        dist.destroy_process_group()
