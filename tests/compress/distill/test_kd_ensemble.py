"""Ensemble teachers (``a+b``): mean of the members' probabilities, sums of size, one-line errors, a full run."""

from __future__ import annotations

import pytest
import torch
from kd_helpers import CLASSES, make_teacher_artifact

import edgevision
from conftest import tiny_data
from edgevision.compress.distill.ensemble import EnsembleTeacher
from edgevision.compress.distill.teachers import TeacherOptions, build_teacher
from edgevision.data import TensorSampleDataset
from edgevision.errors import ConfigError

FAST = {"epochs": 1, "batch_size": 16, "latency_budget_s": 0.05, "student_kwargs": {"width": 4, "depth": 2}}


def test_ensemble_is_the_mean_of_member_probabilities(tmp_path):
    a = make_teacher_artifact(tmp_path / "a.pt", seed=0)
    b = make_teacher_artifact(tmp_path / "b.pt", seed=1)
    ens = build_teacher(f"{a}+{b}")
    ta, tb = build_teacher(str(a)), build_teacher(str(b))
    x = torch.rand(5, 3, 24, 24)
    want = (ta.logits(x).softmax(1) + tb.logits(x).softmax(1)) / 2
    got = ens.logits(x)
    assert isinstance(ens, EnsembleTeacher) and got.shape == (5, len(CLASSES))
    assert torch.allclose(got.softmax(1), want, atol=1e-5)  # log p̄ is a logit vector whose softmax is p̄
    assert not torch.allclose(want, ta.logits(x).softmax(1), atol=1e-3)  # both members count
    assert ens.size_bytes() == ta.size_bytes() + tb.size_bytes()
    assert ens.fingerprint() != build_teacher(f"{b}+{a}").fingerprint() != ta.fingerprint()
    assert [m["name"] for m in ens.info()["members"]] == [ta.name, tb.name]


def test_ensemble_errors_are_clear(tmp_path):
    a = make_teacher_artifact(tmp_path / "a.pt")
    with pytest.raises(ConfigError, match="'nope': not a built-in teacher"):
        build_teacher(f"{a}+nope")
    with pytest.raises(ConfigError, match="teaches classification students only, not 'segmentation'"):
        build_teacher(f"{a}+hog", task="segmentation")
    with pytest.raises(ConfigError, match="'hog\\+': an ensemble joins two or more"):
        build_teacher("hog+")
    with pytest.raises(ConfigError, match="at least two members"):
        EnsembleTeacher([build_teacher(str(a))])
    four = build_teacher(f"{a}+{make_teacher_artifact(tmp_path / 'c.pt', classes=['x', 'y'])}")
    with pytest.raises(ConfigError, match="outputs of different shapes"):
        four.logits(torch.rand(2, 3, 24, 24))


def test_distill_from_an_ensemble_reports_the_summed_teacher(tmp_path):
    data = tiny_data(n_train=48)
    a = make_teacher_artifact(tmp_path / "a.pt", seed=0, data=data)
    b = make_teacher_artifact(tmp_path / "b.pt", seed=1, data=data)
    res = edgevision.distill(f"{a}+{b}", out=tmp_path / "d", **FAST)
    rep = res.card["teacher"]
    assert rep["kind"] == "ensemble" and len(rep["members"]) == 2 and res.card["parent"] == f"{a}+{b}"
    assert rep["size_bytes"] == 2 * build_teacher(str(a)).size_bytes()
    assert res.card["data"]["source"] == "synthetic:shapes"  # the data defaults come from the first artifact


def test_a_cnn_and_hog_make_one_presence_teacher(tmp_path):
    classes = ["no_person", "person"]
    g = torch.Generator().manual_seed(0)
    x = torch.randint(60, 120, (16, 3, 48, 48), generator=g, dtype=torch.uint8)
    y = torch.arange(16) % 2
    x[y == 1, :, 8:40, 20:28] = 250
    ds = TensorSampleDataset(x, {"label": y}, classes)
    cnn = make_teacher_artifact(tmp_path / "cnn.pt", size=48, classes=classes)
    opt = TeacherOptions(det_size=128, calibration_samples=16)
    ens = build_teacher(f"{cnn}+hog", opt)
    ens.prepare(ds, classes)  # every member is prepared: HOG fits its Platt scaling here
    hog = ens.members[1]
    assert (hog.a, hog.b) != (1.0, 0.0)
    p = ens.logits(x[:4].float() / 255).softmax(1)
    x01 = x[:4].float() / 255
    want = (build_teacher(str(cnn)).logits(x01).softmax(1) + hog.logits(x01).softmax(1)) / 2
    assert torch.allclose(p, want, atol=1e-5)


def test_offline_cache_keys_on_the_members_in_order(tmp_path):
    data = tiny_data(n_train=48)
    a = make_teacher_artifact(tmp_path / "a.pt", seed=0, data=data)
    b = make_teacher_artifact(tmp_path / "b.pt", seed=1, data=data)
    opts = {**FAST, "mode": "offline", "cache_dir": str(tmp_path / "cache")}
    first = edgevision.distill(f"{a}+{b}", out=tmp_path / "d1", **opts).card["distillation"]
    again = edgevision.distill(f"{a}+{b}", out=tmp_path / "d2", **opts).card["distillation"]
    swapped = edgevision.distill(f"{b}+{a}", out=tmp_path / "d3", **opts).card["distillation"]
    assert (first["reused"], again["reused"], swapped["reused"]) == (False, True, False)
    assert first["cache"] == again["cache"] != swapped["cache"]
