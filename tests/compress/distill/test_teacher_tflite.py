"""Teacher files through LiteRT (``ai-edge-litert``, the ``[teachers]`` extra): a TFLite model written inside the
test with LiteRT's own flatbuffer schema (1×1 conv → logistic, a per-pixel probability map), the
``probability_map`` adapter, the distill stage on segmentation data, and ``mediapipe-selfie`` when its files are
installed. Outside the extras venv (no ai-edge-litert) these tests skip; ``make test-extras`` runs them."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
import torch

import edgevision
from conftest import tiny_data
from edgevision.cli import main
from edgevision.compress.distill import mediapipe_selfie
from edgevision.compress.distill.files import FileTeacher
from edgevision.compress.distill.teachers import build_teacher
from edgevision.configs.distill import TeacherOptions
from edgevision.errors import ConfigError

LITERT = importlib.util.find_spec("ai_edge_litert") is not None
needs_litert = pytest.mark.skipif(not LITERT, reason="ai-edge-litert is not installed (the [teachers] extra; "
                                  "make test-extras)")
HW = (8, 8)
W = np.array([[1.0, -1.0, 0.5], [0.2, 0.3, -0.4], [-0.6, 0.1, 0.9]], np.float32)  # (Cout, Cin)
B = np.array([0.1, -0.2, 0.3], np.float32)


def conv_sigmoid_tflite(w: np.ndarray, b: np.ndarray, hw: tuple[int, int] = HW) -> bytes:
    """A TFLite flatbuffer: (1, H, W, Cin) → 1×1 conv (weights (Cout, Cin), bias) → logistic → (1, H, W, Cout)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s

    cout, cin = w.shape

    def buf(a=None):
        x = s.BufferT()
        if a is not None:
            x.data = np.frombuffer(np.ascontiguousarray(a, np.float32).tobytes(), np.uint8)
        return x

    def tensor(shape, index, name):
        t = s.TensorT()
        t.shape, t.type, t.buffer, t.name = list(shape), s.TensorType.FLOAT32, index, name
        return t

    def code(op):
        c = s.OperatorCodeT()
        c.builtinCode, c.deprecatedBuiltinCode, c.version = op, min(op, 127), 1
        return c

    opt = s.Conv2DOptionsT()
    opt.padding, opt.strideH, opt.strideW, opt.dilationHFactor, opt.dilationWFactor = s.Padding.SAME, 1, 1, 1, 1
    conv, sig = s.OperatorT(), s.OperatorT()
    conv.opcodeIndex, conv.inputs, conv.outputs = 0, [0, 1, 2], [3]
    conv.builtinOptionsType, conv.builtinOptions = s.BuiltinOptions.Conv2DOptions, opt
    sig.opcodeIndex, sig.inputs, sig.outputs = 1, [3], [4]
    g = s.SubGraphT()
    g.tensors = [tensor((1, *hw, cin), 1, "input"), tensor((cout, 1, 1, cin), 2, "w"), tensor((cout,), 3, "b"),
                 tensor((1, *hw, cout), 4, "z"), tensor((1, *hw, cout), 5, "p")]
    g.inputs, g.outputs, g.operators, g.name = [0], [4], [conv, sig], "main"
    m = s.ModelT()
    m.version, m.description, m.subgraphs = 3, "test", [g]
    m.operatorCodes = [code(s.BuiltinOperator.CONV_2D), code(s.BuiltinOperator.LOGISTIC)]
    m.buffers = [buf(), buf(), buf(w.reshape(cout, 1, 1, cin)), buf(b), buf(), buf()]
    fb = flatbuffers.Builder(1024)
    fb.Finish(m.Pack(fb), file_identifier=b"TFL3")
    return bytes(fb.Output())


@pytest.fixture
def tflite_file(tmp_path):
    path = tmp_path / "seg.tflite"
    path.write_bytes(conv_sigmoid_tflite(W, B))
    return path


def reference(x01: torch.Tensor) -> np.ndarray:
    """p (B, H, W, Cout) of the model on x01 resized to HW (as the teacher feeds it), in numpy."""
    x = torch.nn.functional.interpolate(x01, size=HW, mode="bilinear", antialias=True).permute(0, 2, 3, 1).numpy()
    return 1 / (1 + np.exp(-(x @ W.T + B)))


@needs_litert
def test_probability_map_teaches_the_person_class_image_by_image(tflite_file):
    t = build_teacher(str(tflite_file), TeacherOptions(output="probability_map", foreground_channel=2), None)
    assert isinstance(t, FileTeacher) and t.layout == "nhwc" and t.default_task == "segmentation"
    t.prepare(None, ["person", "background"])  # person first: p goes to class 0
    x01 = torch.rand(3, 3, 16, 16)  # a batch of 3 through a batch-1 file
    out = t.logits(x01)
    p = reference(x01)[..., 2]
    assert out.shape == (3, 2, *HW)
    assert np.allclose(out.softmax(1)[:, 0].numpy(), p, atol=1e-4)


@needs_litert
def test_class_map_over_map_channels(tflite_file):
    t = FileTeacher(tflite_file, TeacherOptions(output="probability_map", class_map=[1, 0]))
    t.prepare(None, ["bg", "fg"])
    x01 = torch.rand(2, 3, *HW)
    p = reference(x01)[..., [1, 0]]
    assert np.allclose(t.logits(x01).softmax(1).numpy(), (p / p.sum(-1, keepdims=True)).transpose(0, 3, 1, 2),
                       atol=1e-4)


@needs_litert
def test_distill_a_segmenter_from_a_tflite_file(tmp_path, tflite_file):
    data = tiny_data(n_train=16, size=64, classes=2)  # background + 2 shapes: the map's 3 channels, renormalized
    res = edgevision.distill(str(tflite_file), data=data, task="segmentation", student="fastlinknet",
                             student_kwargs={"width_mult": 0.125}, teacher_options={
                                 "output": "probability_map", "class_map": [0, 1, 2], "license": "Apache-2.0"},
                             epochs=1, batch_size=8, latency_budget_s=0.05, out=tmp_path / "d")
    card = json.loads((res.run_dir / "card.json").read_text())
    assert card["teacher"]["runtime"].startswith("ai-edge-litert") and card["teacher"]["license"] == "Apache-2.0"
    assert 0 <= card["teacher"]["test"]["miou"] <= 1


@needs_litert
@pytest.mark.parametrize("opts,message", [
    ({"output": "logits"}, "output logits teaches classification, not segmentation"),  # before the file runs
    ({"output": "probability_map", "foreground_channel": 5}, "has 3 channel(s); foreground_channel 5"),
    ({"output": "probability_map", "channels": 1}, "teacher_options.channels 1 does not fit it: drop it or give 3"),
])
def test_a_tflite_output_not_matching_the_adapter_is_one_line(tmp_path, tflite_file, capsys, opts, message):
    flags = [a for k, v in opts.items() for a in (f"--teacher-options.{k.replace('_', '-')}", str(v))]
    rc = main(["distill", "--teacher", str(tflite_file), *flags, "--data", "synthetic:shapes", "--task",
               "segmentation", "--input-size", "16", "--set", "data.options.n_train=16", "--set",
               "data.options.num_classes=2", "--student", "fastlinknet", "--epochs", "1", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("error:") and message in err and "\n" not in err, err
    assert not (tmp_path / "x").exists()


@needs_litert
def test_a_tflite_teacher_runs_in_the_runner_of_exported_files_quietly(tflite_file, capfd):
    """The teacher's file runs in the one LiteRT runner (:mod:`edgevision.utils.litert`, as ``eval`` of a
    ``.tflite`` does): the interpreter's native log lines stay off the terminal, a batch of 3 runs through the
    batch-1 file, and the card names the interpreter's version."""
    from edgevision.deploy.litert_runtime import Runner as ExportRunner
    from edgevision.utils.litert import Runner

    capfd.readouterr()
    t = FileTeacher(tflite_file, TeacherOptions(output="probability_map", class_map=[0, 1, 2]))
    t.prepare(None, ["a", "b", "c"])
    x01 = torch.rand(3, 3, *HW)
    assert np.allclose(t.raw(x01), reference(x01), atol=1e-5)
    assert type(t.runner) is Runner and issubclass(ExportRunner, Runner)
    assert t.info()["runtime"] == f"ai-edge-litert {t.runner.version}"
    assert capfd.readouterr().err == ""


@needs_litert
def test_a_quantized_input_is_fed_at_the_files_scale(tmp_path):
    """An int8-input teacher (once refused: float32 inputs only) gets ``q = round(x / s) + z``, clamped to int8."""
    from tflite_files import int8_input_tflite

    path = tmp_path / "q.tflite"
    path.write_bytes(int8_input_tflite(HW, 3, 1 / 64, -10))
    t = FileTeacher(path, TeacherOptions(output="probability_map", class_map=[0, 1, 2]))
    x01 = torch.rand(2, 3, *HW)
    x = torch.nn.functional.interpolate(x01, size=HW, mode="bilinear", antialias=True).permute(0, 2, 3, 1).numpy()
    want = (np.clip(np.round(x * 64) - 10, -128, 127) + 10) / 64
    assert np.allclose(t.raw(x01), want, atol=1e-6)


@needs_litert
def test_an_integer_input_without_quantization_parameters_is_one_line(tmp_path):
    from tflite_files import int8_input_tflite

    path = tmp_path / "raw.tflite"
    path.write_bytes(int8_input_tflite(HW, 3, None))
    with pytest.raises(ConfigError, match=r"raw\.tflite: its input is int8 without quantization parameters"):
        FileTeacher(path, TeacherOptions(output="probability_map"))


@needs_litert
def test_a_file_that_is_not_a_tflite_model_is_one_line(tmp_path):
    bad = tmp_path / "x.tflite"
    bad.write_bytes(b"\x00" * 64)
    with pytest.raises(ConfigError, match="not a TFLite model LiteRT can load"):
        FileTeacher(bad, TeacherOptions(output="probability_map"))


def test_mediapipe_selfie_without_the_package_names_the_install_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(mediapipe_selfie.importlib.util, "find_spec",
                        lambda name, *a: None if name == "mediapipe" else real(name, *a))
    with pytest.raises(ConfigError, match=r"pip install --no-deps mediapipe==0\.10\.21"):
        build_teacher("mediapipe-selfie")


@needs_litert
@pytest.mark.skipif(importlib.util.find_spec("mediapipe") is None, reason="mediapipe 0.10.21 is not installed "
                    "(pip install --no-deps mediapipe==0.10.21; make install-extras)")
def test_mediapipe_selfie_gives_a_person_map_without_importing_mediapipe():
    import sys

    t = build_teacher("mediapipe-selfie")
    t.prepare(None, ["background", "person"])
    x01 = torch.zeros(2, 3, 64, 48)
    x01[:, :, 8:60, 16:32] = torch.linspace(0.2, 0.8, 16)  # a tall figure on black
    out = t.logits(x01).softmax(1)
    assert out.shape == (2, 2, 256, 256) and torch.allclose(out.sum(1), torch.ones(2, 256, 256), atol=1e-4)
    assert t.info()["license"].startswith("Apache-2.0") and t.size_bytes() == 249_505
    assert "mediapipe" not in sys.modules
