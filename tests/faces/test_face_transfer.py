"""Björgvinsdóttir & Seibold's (2016) transfer modes freeze, copy and scale exactly the intended parameters."""

from __future__ import annotations

import pytest
import torch

from conftest import tiny_data
from edgevision.configs.train import TrainConfig
from edgevision.errors import ConfigError
from edgevision.models import build_model
from edgevision.train.optim import param_groups
from edgevision.train.transfer import frozen_norms, transfer_options


def _model():
    return build_model("face_cnn", num_classes=5, widths=[4, 8, 8, 8], embed_dim=16, input_size=32)


def _trainable(model, opts):
    cfg = TrainConfig(freeze=opts["freeze"], lr_mult=opts["lr_mult"])
    groups = param_groups(model, cfg)
    names = {id(p): n for n, p in model.named_parameters()}
    return {names[id(p)]: g["lr_mult"] for g in groups for p in g["params"]}


def test_frozen_trains_only_the_head():
    m = _model()
    got = _trainable(m, transfer_options(m, "frozen"))
    assert got == {"head.weight": 1.0}
    assert {type(b).__name__ for b in frozen_norms(m)} == {"BatchNorm2d", "BatchNorm1d"}


def test_finetune_scales_copied_layers_and_trains_everything():
    m = _model()
    opts = transfer_options(m, "finetune")
    got = _trainable(m, opts)
    assert set(got) == {n for n, _ in m.named_parameters()}
    assert got.pop("head.weight") == 1.0 and set(got.values()) == {0.1}
    assert opts["init_exclude"] == ["head.weight"]


def test_scratch_freezes_the_conv_trunk_and_reinitializes_fc():
    m = _model()
    opts = transfer_options(m, "scratch")
    got = _trainable(m, opts)
    assert set(got) == {"fc.weight", "fc.bias", "bn.weight", "bn.bias", "head.weight"}
    assert set(got.values()) == {1.0}
    assert {"fc.weight", "bn.running_mean", "head.weight"} <= set(opts["init_exclude"])
    assert not any(k.startswith("features") for k in opts["init_exclude"])
    assert frozen_norms(m) and all(isinstance(b, torch.nn.BatchNorm2d) for b in frozen_norms(m))


def test_bad_mode_and_head():
    m = _model()
    with pytest.raises(ConfigError, match="not one of"):
        transfer_options(m, "defrost")
    with pytest.raises(ConfigError, match="match no parameter"):
        transfer_options(m, "frozen", ["classifier.*"])


@pytest.mark.usefixtures("one_thread")
def test_train_stage_transfer_copies_and_freezes(tmp_path):
    import edgevision as ev
    from edgevision.artifacts import load_artifact

    data = {**tiny_data(n_train=32, size=24, classes=3), "channels": 1}
    base = ev.train(model="face_cnn", model_kwargs={"widths": [4, 8, 8, 8], "embed_dim": 16}, data=data, epochs=1,
                    batch_size=8, out=tmp_path / "pre", task="face")
    data4 = {**tiny_data(n_train=32, size=24, classes=4), "channels": 1}
    r = ev.train(model="face_cnn", model_kwargs={"widths": [4, 8, 8, 8], "embed_dim": 16}, data=data4, epochs=1,
                 batch_size=8, out=tmp_path / "frozen", task="face", init=str(base.artifact), transfer="frozen")
    a, b = load_artifact(base.artifact).model.state_dict(), load_artifact(r.artifact).model.state_dict()
    for k in a:
        if k != "head.weight":  # the trunk, the fc layer and every BN statistic are untouched
            assert torch.equal(a[k], b[k]), k
    assert b["head.weight"].shape == (4, 16)
    with pytest.raises(ConfigError, match="needs init"):
        ev.train(model="face_cnn", data=data4, epochs=1, out=tmp_path / "x", transfer="frozen")
