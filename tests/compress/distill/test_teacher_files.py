"""Teacher files through onnxruntime: the adapter's input (size, layout, mean/std, channels) and outputs (logits,
probabilities with a class map, embeddings), the distill stage online and offline with one, the card's file and
sha, and the one-line errors (not a model, output not matching the adapter)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch
from torch import nn

import edgevision
from conftest import tiny_data
from edgevision.cli import main
from edgevision.compress.distill.files import FileTeacher
from edgevision.compress.distill.teachers import build_teacher
from edgevision.configs.distill import TeacherOptions
from edgevision.errors import ConfigError

SIZE, K = 20, 5  # the teacher's input side and its number of outputs (the data has 4 classes)
FAST = {"epochs": 1, "batch_size": 16, "latency_budget_s": 0.05, "student_kwargs": {"width": 4, "depth": 2}}


class TwoLayer(nn.Module):
    """conv 3×3 → ReLU → global mean → linear: a 2-layer net standing in for someone else's model."""

    def __init__(self, out: int = K, channels: int = 3) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv, self.fc = nn.Conv2d(channels, 6, 3, padding=1), nn.Linear(6, out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).mean((2, 3)))


def export(net: nn.Module, path, nhwc: bool = False, channels: int = 3):
    x = torch.randn(1, channels, SIZE, SIZE)
    model = net if not nhwc else _Nhwc(net)
    x = x.permute(0, 2, 3, 1) if nhwc else x
    torch.onnx.export(model.eval(), (x,), str(path), dynamo=False, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})
    return path


class _Nhwc(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.permute(0, 3, 1, 2))


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory):
    return export(TwoLayer(), tmp_path_factory.mktemp("t") / "teacher.onnx")


def adapter(**kw) -> TeacherOptions:
    return TeacherOptions(**{"output": "logits", "class_map": [4, 0, 2, 1], "mean": (0.5,), "std": (0.25,), **kw})


def test_logits_follow_the_class_map_and_the_input_adapter(onnx_file):
    t = build_teacher(str(onnx_file), adapter(), "classification")
    assert isinstance(t, FileTeacher) and t.size == (SIZE, SIZE) and t.layout == "nchw" and t.channels == 3
    t.prepare(None, ["a", "b", "c", "d"])
    x01 = torch.rand(3, 3, 32, 32)
    ref = TwoLayer()((nn.functional.interpolate(x01, size=(SIZE, SIZE), mode="bilinear", antialias=True) - 0.5)
                     / 0.25)
    assert torch.allclose(t.logits(x01), ref[:, [4, 0, 2, 1]].detach(), atol=1e-5)


def test_probabilities_are_renormalized_over_the_mapped_classes(tmp_path):
    path = export(nn.Sequential(TwoLayer(), nn.Softmax(1)), tmp_path / "p.onnx")
    t = FileTeacher(path, adapter(output="probabilities", class_map=[3, 1]))
    t.prepare(None, ["no", "yes"])
    x01 = torch.rand(2, 3, SIZE, SIZE)
    p = torch.softmax(TwoLayer()((x01 - 0.5) / 0.25), 1)[:, [3, 1]].detach()
    assert torch.allclose(t.logits(x01).softmax(1), p / p.sum(1, keepdim=True), atol=1e-5)


def test_nhwc_grey_input_and_embedding_output(tmp_path):
    path = export(TwoLayer(out=7, channels=1), tmp_path / "e.onnx", nhwc=True, channels=1)
    t = FileTeacher(path, TeacherOptions(output="embedding"))
    assert (t.layout, t.channels, t.embedding_dim, t.default_task) == ("nhwc", 1, 7, "face")
    x01 = torch.rand(2, 3, SIZE, SIZE)
    grey = (x01 * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    assert torch.allclose(t.logits(x01), TwoLayer(out=7, channels=1)(grey).detach(), atol=1e-5)


def test_distill_online_and_offline_record_the_file_in_the_card(tmp_path, onnx_file):
    data = tiny_data(n_train=32)
    opts = {"output": "logits", "class_map": [4, 0, 2, 1], "license": "MIT"}
    on = edgevision.distill(str(onnx_file), data=data, teacher_options=opts, out=tmp_path / "on", **FAST)
    card = json.loads((on.run_dir / "card.json").read_text())
    sha = hashlib.sha256(onnx_file.read_bytes()).hexdigest()
    assert card["teacher"]["sha256"] == sha and card["teacher"]["license"] == "MIT"
    assert card["teacher"]["file"] == str(onnx_file.resolve()) and card["teacher"]["output"] == "logits"
    assert np.isfinite(card["teacher"]["test"]["top1"])
    cache = tmp_path / "cache"
    off = edgevision.distill(str(onnx_file), data=data, teacher_options=opts, mode="offline", cache_dir=str(cache),
                             out=tmp_path / "off", **FAST)
    entry = next(cache.iterdir())
    logits = np.load(entry / "logits.npy")
    assert logits.shape == (32, 4) and off.card["distillation"]["mode"] == "offline"


def test_cli_flags_come_from_the_options(tmp_path, onnx_file):
    rc = main(["distill", "--teacher", str(onnx_file), "--teacher-options.output", "logits",
               "--teacher-options.class-map", "4,0,2,1", "--data", "synthetic:shapes", "--input-size", "24",
               "--set", "data.options.n_train=16", "--set", "data.options.num_classes=4", "--set",
               "data.options.n_test=8", "--epochs", "1",
               "--student-kwargs", "width=4", "depth=2", "--set", "latency_budget_s=0.05", "--out",
               str(tmp_path / "cli")])
    assert rc == 0
    card = json.loads((tmp_path / "cli" / "card.json").read_text())
    assert card["teacher"]["class_map"] == [4, 0, 2, 1] and card["teacher"]["output"] == "logits"


@pytest.mark.parametrize("opts,message", [
    ({"output": "logits"}, "output shape (1, 5) gives 5 classes; the data has 4"),
    ({"output": "logits", "class_map": [0, 1, 9, 2]}, "class_map [0, 1, 9, 2] needs 4 indices"),
    ({"output": "probability_map"}, "output shape (1, 5) does not fit output=probability_map"),
    ({"output": "logits", "input_size": 32}, "teacher_options.input_size 32×32 does not fit it: drop it or give 20×20"),
    ({"output": "logits", "mean": (0.1, 0.2)}, "teacher_options.mean has 2 values"),
    ({"output": "logits", "std": 0}, "every std must be > 0"),
    ({"output": "logits", "input_size": 0}, "sides must be ≥ 1"),
    ({"output": "probability_map", "task": "classification"}, "output probability_map teaches segmentation, not "
                                                               "classification"),
])
def test_output_or_input_not_matching_the_adapter_is_one_line(tmp_path, onnx_file, capsys, opts, message):
    flags = [a for k, v in opts.items() for a in (f"--{'' if k == 'task' else 'teacher-options.'}{k.replace('_', '-')}",
                                                  ",".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v))]
    rc = main(["distill", "--teacher", str(onnx_file), *flags, "--data", "synthetic:shapes", "--input-size", "24",
               "--set", "data.options.n_train=16", "--set", "data.options.num_classes=4", "--epochs", "1", "--out",
               str(tmp_path / "x")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("error:") and message in err and "\n" not in err, err
    assert not (tmp_path / "x").exists()


def test_a_file_that_is_not_a_model_is_one_line(tmp_path, capsys):
    bad = tmp_path / "notes.onnx"
    bad.write_text("not a model")
    with pytest.raises(ConfigError, match="not an ONNX model onnxruntime can load"):
        FileTeacher(bad, TeacherOptions(output="logits"))
    rc = main(["distill", "--teacher", str(bad), "--teacher-options.output", "logits", "--data", "synthetic:shapes",
               "--epochs", "1", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "not an ONNX model" in err and "\n" not in err


def test_tflite_needs_an_output_and_an_existing_file(tmp_path):
    every = r"logits\|probabilities\|probability_map\|embedding"
    with pytest.raises(ConfigError, match=r"say what its output means: --teacher-options.output " + every):
        build_teacher(str(tmp_path / "m.tflite"), TeacherOptions())
    with pytest.raises(ConfigError, match="no such file"):
        build_teacher(str(tmp_path / "m.tflite"), TeacherOptions(output="logits"))


def _distill_cli(teacher, out, *flags) -> int:
    return main(["distill", "--teacher", str(teacher), *flags, "--data", "synthetic:shapes", "--input-size", "24",
                 "--set", "data.options.n_train=16", "--set", "data.options.num_classes=4", "--set",
                 "data.options.n_val=8", "--set", "data.options.n_test=8", "--epochs", "1", "--out", str(out)])


@pytest.mark.parametrize("flags", [[], ["--task", "face"], ["--task", "classification"]])
def test_an_embedding_teacher_asks_for_an_embedding_student_in_one_line(tmp_path, capsys, flags):
    path = export(TwoLayer(out=7), tmp_path / "e.onnx")
    rc = _distill_cli(path, tmp_path / "x", "--teacher-options.output", "embedding", *flags)  # student_cnn: no
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("error:") and "\n" not in err, err
    assert str(path) in err and "teaches face (embedding) students" in err and "--student face_cnn" in err, err
    assert not (tmp_path / "x").exists()


def test_an_embedding_teacher_infers_the_face_task_for_an_embedding_student(tmp_path):
    path = export(TwoLayer(out=7), tmp_path / "e.onnx")
    assert _distill_cli(path, tmp_path / "d", "--teacher-options.output", "embedding", "--student", "face_cnn",
                        "--set", "latency_budget_s=0.05") == 0
    card = json.loads((tmp_path / "d" / "card.json").read_text())
    assert card["task"]["name"] == "face" and card["teacher"]["dim"] == 7


def test_a_foreign_onnx_teacher_without_an_output_asks_for_one_in_one_line(tmp_path, capsys, onnx_file):
    before = onnx_file.read_bytes()
    rc = _distill_cli(onnx_file, tmp_path / "x")
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("error:") and "\n" not in err, err
    assert str(onnx_file) in err and "--teacher-options.output logits|probabilities|probability_map|embedding" in err
    assert " --mean" not in err and not (tmp_path / "x").exists() and onnx_file.read_bytes() == before


def export_fixed(net: nn.Module, path, shape=(1, 3, 64, 64)):
    """A file whose input shape is fixed, batch included (no dynamic axes)."""
    torch.onnx.export(net.eval(), (torch.zeros(shape),), str(path), dynamo=False, input_names=["x"],
                      output_names=["y"])
    return path


@pytest.fixture(scope="module")
def fixed_file(tmp_path_factory):
    return export_fixed(TwoLayer(), tmp_path_factory.mktemp("f") / "fixed.onnx")


@pytest.mark.parametrize("opts,message", [
    ({"input_size": 32}, "its input is fixed at 3 channels, 64×64 (shape 1×3×64×64, nchw); "
                         "teacher_options.input_size 32×32 does not fit it: drop it or give 64×64"),
    ({"input_size": "64,32"}, "teacher_options.input_size 64×32 does not fit it: drop it or give 64×64"),
    ({"channels": 1}, "(shape 1×3×64×64, nchw); teacher_options.channels 1 does not fit it: drop it or give 3"),
    ({"layout": "nhwc"}, "its input shape is 1×3×64×64; teacher_options.layout nhwc reads it as 64 channels at "
                         "3×64, but an image has 1 or 3 channels: drop it or give nchw"),
    ({"layout": "nhwc", "channels": 3, "input_size": 64}, "teacher_options.layout nhwc reads it as 64 channels"),
])
def test_a_fixed_input_that_the_adapter_cannot_fit_is_one_line(tmp_path, capsys, fixed_file, opts, message):
    flags = [a for k, v in opts.items() for a in (f"--teacher-options.{k.replace('_', '-')}", str(v))]
    rc = _distill_cli(fixed_file, tmp_path / "x", "--teacher-options.output", "logits", "--teacher-options.class-map",
                      "4,0,2,1", *flags)
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("error:") and "\n" not in err, err
    assert f"teacher {fixed_file}: " in err and message in err, err
    assert not (tmp_path / "x").exists()


def test_an_input_that_is_no_image_is_one_line(tmp_path):
    path = export_fixed(TwoLayer(channels=5), tmp_path / "five.onnx", (1, 5, 64, 64))
    with pytest.raises(ConfigError, match=r"five.onnx: its input shape is 1×5×64×64: 5 channels read as nchw, "
                                          r"64 as nhwc; an image input has 1 or 3"):
        FileTeacher(path, TeacherOptions(output="logits"))


def test_a_file_with_a_fixed_batch_runs_in_batches_of_that_size(tmp_path):
    path = export_fixed(TwoLayer(), tmp_path / "b2.onnx", (2, 3, 64, 64))
    t = FileTeacher(path, TeacherOptions(output="logits"))
    x01 = torch.rand(3, 3, 64, 64)
    assert torch.allclose(t.logits(x01), TwoLayer()(x01).detach(), atol=1e-5)


def test_a_file_the_runtime_refuses_to_run_at_the_asked_size_is_one_line(tmp_path):
    path = tmp_path / "flat.onnx"  # dynamic H, W in the graph's input, but its Linear needs 20×20
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * SIZE * SIZE, 4)).eval()
    torch.onnx.export(net, (torch.zeros(1, 3, SIZE, SIZE),), str(path), dynamo=False, input_names=["x"],
                      output_names=["y"], dynamic_axes={"x": {0: "n", 2: "h", 3: "w"}, "y": {0: "n"}})
    t = FileTeacher(path, TeacherOptions(output="logits", input_size=24))
    with pytest.raises(ConfigError, match=r"flat.onnx: onnxruntime cannot run it on a 1×3×24×24 input \(its input "
                                          r"is \?×3×\?×\?; ") as e:
        t.prepare(None, ["a", "b", "c", "d"])
    assert "\n" not in str(e.value)
