"""The Python API takes an nn.Module object: it is saved with a spec that rebuilds it, then the verb runs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import edgevision as ev
from conftest import tiny_data
from edgevision.artifacts import load_artifact
from edgevision.errors import ConfigError
from edgevision.models import get_arch
from edgevision.models.adopt import adopt


class Plain(nn.Module):
    """A user's module with its own argument names, kept as attributes (the usual habit)."""

    def __init__(self, chans: int = 3, n_out: int = 4, width: int = 8):
        super().__init__()
        self.chans, self.n_out, self.width = chans, n_out, width
        self.conv = nn.Conv2d(chans, width, 3, padding=1)
        self.bn = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)
        self.fc = nn.Linear(width, n_out)

    def forward(self, x):
        x = torch.relu(self.bn(self.conv(x)))
        x = x + torch.relu(self.conv2(x))
        return self.fc(x.mean((2, 3)))


class Hidden(nn.Module):
    """Its width is not kept as an attribute, so it cannot be read back."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3)

    def forward(self, x):
        return self.conv(x).mean((2, 3))


def test_adopt_reads_the_arguments_from_attributes_and_checks_them():
    m = Plain(chans=1, n_out=3, width=6)
    spec = adopt(m)
    assert spec.name.endswith(":Plain") and spec.kwargs == {"chans": 1, "n_out": 3, "width": 6}
    assert get_arch(m) == spec


def test_adopt_refuses_what_would_not_rebuild():
    with pytest.raises(ConfigError, match=r"rebuilding it from .*Hidden\(\) .*conv\.weight.*pass model_kwargs"):
        adopt(Hidden(width=5))
    assert adopt(Hidden(width=5), {"width": 5}).kwargs == {"width": 5}

    class Local(nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(ConfigError, match="defined inside a function"):
        adopt(Local())


def test_shrink_export_profile_and_bench_take_a_module(tmp_path):
    data = tiny_data(n_train=64, size=16)
    torch.manual_seed(0)
    model = Plain(chans=3, n_out=4, width=16)
    shrunk = ev.shrink(model, input_size=16, data=data, ratio=0.5, round_to=1, epochs=0, out=tmp_path / "s")
    assert (tmp_path / "s.input.pt").is_file() and shrunk.card["parent"].endswith("s.input.pt")
    art = load_artifact(shrunk.artifact)
    assert art.preprocess["input_size"] == [16, 16] and art.task["class_names"] == ["0", "1", "2", "3"]
    assert art.model.conv.out_channels < 16
    exported = ev.export(model, input_size=16, out=tmp_path / "e")
    assert exported.artifact.suffix == ".onnx"
    prof = ev.profile(model, input_size="3x16x16", engines=["torch"], budget_s=0.1, out=tmp_path / "p")
    assert prof.card["profile"]["params"] == sum(p.numel() for p in model.parameters())
    bench = ev.bench([model, exported.artifact], input_size=16, threads=[1], budget_s=0.1, out=tmp_path / "b")
    assert len({r["artifact"] for r in bench.card["bench"]["rows"]}) == 2


def test_distill_takes_a_student_object(tmp_path):
    data = tiny_data(n_train=64, size=16)
    teacher = ev.train(model="student_cnn", model_kwargs={"width": 8}, data=data, epochs=1, out=tmp_path / "t")
    student = Plain(chans=3, n_out=4, width=4)
    with torch.no_grad():
        student.fc.bias.fill_(0.25)
    res = ev.distill(teacher.artifact, student=student, epochs=1, max_steps_per_epoch=1, out=tmp_path / "d")
    art = load_artifact(res.artifact)
    assert art.arch.kwargs == {"chans": 3, "n_out": 4, "width": 4} and art.arch.name.endswith(":Plain")
    init = load_artifact(tmp_path / "d.student.pt")  # the student started from the object's weights
    assert torch.equal(init.model.fc.bias, torch.full((4,), 0.25)) and init.preprocess["input_size"] == [16, 16]
