"""The training loop: learning, resume exactness, freezing and LR multipliers, bf16, divergence, early stop."""

import math

import pytest
import torch

from conftest import tiny_data
from edgevision.configs.train import TrainConfig
from edgevision.data import DataConfig, load_data
from edgevision.models import build_model
from edgevision.runs import RunDir
from edgevision.tasks import build_task
from edgevision.train.callbacks import Callback
from edgevision.train.optim import apply_max_norm, lr_factor, param_groups
from edgevision.train.stage import make_loaders
from edgevision.train.trainer import Trainer, TrainingDiverged


def _setup(tmp_path, **cfg):
    splits = load_data(DataConfig(**tiny_data(n_train=128)))
    torch.manual_seed(0)
    model = build_model("student_cnn", width=8, depth=2, num_classes=splits.num_classes, dropout=0.2)
    task = build_task({"name": "classification", "class_names": splits.class_names})
    tc = TrainConfig(**{"epochs": 3, "batch_size": 16, "optimizer": "sgd", "lr": 0.05, "seed": 0, **cfg})
    aug = None
    from edgevision.data import AugmentConfig

    aug = AugmentConfig.model_validate({"hflip": 0.5, "rotate": {"p": 0.5, "degrees": 10}})
    tr, va, _ = make_loaders(splits, tc, aug, seed=0)
    return Trainer(model, task, tr, va, tc, RunDir(tmp_path).mkdir(), verbose=False)


def test_loss_decreases(tmp_path):
    t = _setup(tmp_path, epochs=4, lr=0.05)
    state = t.fit()
    hist = state.history
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]
    assert (tmp_path / "checkpoints" / "last.pt").exists() and (tmp_path / "checkpoints" / "best.pt").exists()
    assert len(RunDir(tmp_path).history()) == 4


class _Kill(Callback):
    """Simulates a kill in the middle of epoch 2 (after epoch 1's checkpoint was written)."""

    def on_step_end(self, trainer):
        if trainer.state.epoch == 1 and trainer.step_in_epoch == 3:
            raise KeyboardInterrupt


def test_resume_after_kill_matches_uninterrupted_run(tmp_path):
    full = _setup(tmp_path / "full")
    full.fit()
    killed = _setup(tmp_path / "killed")
    killed.callbacks.append(_Kill())
    with pytest.raises(KeyboardInterrupt):
        killed.fit()
    resumed = _setup(tmp_path / "killed")
    assert resumed.state.epoch == 0
    resumed.fit(resume=True)
    assert resumed.state.epoch == 3
    a, b = full.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [r["epoch"] for r in RunDir(tmp_path / "killed").history()] == [1, 2, 3]


def test_freeze_and_lr_mult():
    model = build_model("student_cnn", width=8, depth=3, num_classes=3)
    cfg = TrainConfig(freeze=["features.0.*"], lr_mult={"head.*": 1.0, "features.2.*": 0.0, "*": 0.1})
    groups = param_groups(model, cfg)
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen == {n for n, _ in model.named_parameters() if n.startswith(("features.0.", "features.2."))}
    mults = sorted({g["lr_mult"] for g in groups})
    assert mults == [0.1, 1.0]
    head_ids = {id(p) for p in model.head.parameters()}
    assert all(g["lr_mult"] == 1.0 for g in groups for p in g["params"] if id(p) in head_ids)


def test_bad_freeze_pattern_is_a_clear_error():
    from edgevision.errors import ConfigError

    with pytest.raises(ConfigError, match="matches no parameter"):
        param_groups(build_model("lenet5"), TrainConfig(freeze=["nothing.*"]))


def test_frozen_weights_do_not_move(tmp_path):
    t = _setup(tmp_path, epochs=1, freeze=["features.0.*"], weight_decay=0.01)
    before = t.model.features[0][0].weight.clone()
    t.fit()
    assert torch.equal(before, t.model.features[0][0].weight)


def test_schedules():
    cos = TrainConfig(epochs=10, schedule="cosine", warmup_epochs=1)
    assert lr_factor(cos, 0.5) < 1 and abs(lr_factor(cos, 1.0) - 1) < 1e-9 and lr_factor(cos, 10) < 1e-9
    step = TrainConfig(epochs=10, schedule="step", step_size=3, gamma=0.5)
    assert lr_factor(step, 2.9) == 1 and lr_factor(step, 3.0) == 0.5 and lr_factor(step, 6.5) == 0.25
    assert lr_factor(TrainConfig(schedule="plateau", gamma=0.1), 5, plateau_drops=2) == pytest.approx(0.01)


def test_bf16_autocast_trains(tmp_path):
    t = _setup(tmp_path, epochs=1, bf16=True)
    t.fit()
    assert all(torch.isfinite(p).all() for p in t.model.parameters())


class _Poison(Callback):
    def on_step_end(self, trainer):
        with torch.no_grad():
            trainer.model.head.fc.weight.fill_(float("inf"))


def test_divergence_is_a_clear_error(tmp_path):
    t = _setup(tmp_path, epochs=1)
    t.callbacks.append(_Poison())
    with pytest.raises(TrainingDiverged, match="lower the learning rate"):
        t.fit()


@pytest.mark.parametrize("keep", ["best", "last"])
def test_early_stopping(tmp_path, keep):
    """Nothing improves → stops after patience, whichever weights are kept (keep=last used to never stop)."""
    t = _setup(tmp_path, epochs=30, lr=1e-6, early_stop=2, keep=keep)
    state = t.fit()
    assert state.epoch < 30


def test_lr_decay_keeps_its_old_name_and_prune_keeps_its_gamma():
    assert TrainConfig(schedule="step", gamma=0.5).lr_decay == 0.5  # recipes that say gamma
    from edgevision.configs.compress import PruneConfig

    cfg = PruneConfig(artifact="a", sparsity=0.5, schedule="step", step_size=1, lr_decay=0.5)
    assert cfg.gamma is None and lr_factor(cfg, 2.0) == pytest.approx(0.25)  # the criterion's γ stays apart
    assert PruneConfig(artifact="a", gamma=0.7).lr_decay == 0.1


def test_max_norm_projects_each_units_incoming_weights():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(), torch.nn.Linear(8, 5))
    with torch.no_grad():
        net[2].weight.mul_(10)
        net[2].weight[0] = 0.01  # a row already inside the ball stays exactly as it is
    before = net[2].weight.detach().clone()
    norms, conv_norms = before.norm(dim=1), net[0].weight.detach().flatten(1).norm(dim=1)
    n = apply_max_norm(net, 0.5)
    after = net[2].weight.detach()
    assert n == int((norms > 0.5).sum()) + int((conv_norms > 0.5).sum()) and n >= 4
    assert torch.allclose(after.norm(dim=1), norms.clamp(max=0.5), atol=1e-6)
    assert torch.equal(after[0], before[0])
    assert torch.allclose(after[1] / after[1].norm(), before[1] / before[1].norm(), atol=1e-6)  # direction kept
    assert (net[0].weight.detach().flatten(1).norm(dim=1) <= 0.5 + 1e-6).all()


def test_max_norm_holds_during_training(tmp_path):
    t = _setup(tmp_path, epochs=1, lr=0.5, max_norm=0.3)
    t.fit()
    for m in t.model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            assert m.weight.detach().flatten(1).norm(dim=1).max() <= 0.3 + 1e-5


def _printed(monkeypatch) -> list[str]:
    from edgevision.utils.progress import console  # the trainer's console

    lines: list[str] = []
    monkeypatch.setattr(console, "print", lambda *a, **k: lines.append(" ".join(map(str, a))))
    return lines


def test_a_loss_stuck_at_chance_is_warned_about_once(tmp_path, monkeypatch):
    # a head that outputs zeros and barely moves (lr 1e-12) gives softmax = 1/K, i.e. the loss ln K, every epoch
    t = _setup(tmp_path, epochs=4, lr=1e-12, warmup_epochs=1)
    with torch.no_grad():
        for p in t.model.head.parameters():
            p.zero_()
    t.verbose, lines = True, _printed(monkeypatch)
    t.fit()
    assert all(abs(r["train_loss"] - t.task.chance_loss()) < 1e-4 for r in t.state.history)
    assert sum("stayed at chance" in line for line in lines) == 1
    assert t.task.chance_loss() == pytest.approx(torch.log(torch.tensor(float(t.task.num_classes))).item())


def test_a_slow_start_near_chance_is_not_warned_about(tmp_path, monkeypatch):
    t = _setup(tmp_path, epochs=8, lr=0.05, warmup_epochs=1)
    t.verbose, lines = True, _printed(monkeypatch)
    t.fit()
    hist, chance = [r["train_loss"] for r in t.state.history], t.task.chance_loss()
    assert min(hist[2:4]) >= 0.98 * chance and hist[3] < hist[2] - 1e-3 * chance  # near chance, but falling
    assert hist[-1] < 0.96 * chance
    assert not any("stayed at chance" in line for line in lines)


def test_weight_ema_follows_its_formula_and_keeps_zeros():
    from edgevision.train.ema import WeightEMA

    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    ema = WeightEMA(model, decay=0.9, tau=2.0)
    start = ema.module[0].weight.clone()
    with torch.no_grad():
        model[0].weight.fill_(1.0)
        model[0].weight[0, 0] = 0.0  # a pruned weight
        model[1].num_batches_tracked.fill_(7)
    ema.update(model)
    d = 0.9 * (1 - math.exp(-1 / 2.0))
    want = d * start + (1 - d) * torch.ones_like(start)
    want[0, 0] = 0.0
    assert torch.allclose(ema.module[0].weight, want)
    assert int(ema.module[1].num_batches_tracked) == 7  # integer buffers are copied, not averaged
    assert not any(p.requires_grad for p in ema.module.parameters())


def test_ema_validates_and_keeps_the_average_and_resumes_exactly(tmp_path):
    t = _setup(tmp_path / "a", epochs=3, ema=0.99, ema_tau=5, keep="last")
    t.fit()
    assert t.ema is not None and t.ema.updates == 3 * len(t.train_loader)
    assert all(torch.equal(a, b) for a, b in zip(t.model.state_dict().values(), t.ema.module.state_dict().values()))
    plain = _setup(tmp_path / "b", epochs=3, keep="last")
    plain.fit()
    w_ema, w_raw = t.model.state_dict(), plain.model.state_dict()
    assert any(not torch.allclose(w_ema[k], w_raw[k]) for k in w_raw if w_raw[k].is_floating_point())
    killed = _setup(tmp_path / "c", epochs=3, ema=0.99, ema_tau=5, keep="last")
    killed.callbacks.append(_Kill())
    with pytest.raises(KeyboardInterrupt):
        killed.fit()
    resumed = _setup(tmp_path / "c", epochs=3, ema=0.99, ema_tau=5, keep="last")
    resumed.fit(resume=True)
    assert resumed.ema.updates == t.ema.updates
    for k, v in t.model.state_dict().items():
        assert torch.allclose(v.float(), resumed.model.state_dict()[k].float(), atol=1e-6), k
