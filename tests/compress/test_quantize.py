"""fp16/bf16 storage, int8 PTQ (parity, exclusion, sensitivity), BatchNorm folding and QAT."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from edgevision.deploy.int8 import graph as q
from edgevision.deploy.int8.qat import FakeQuantized, fold_batchnorm
from edgevision.deploy.onnx import export_onnx
from edgevision.errors import ConfigError
from edgevision.models import build_from_spec, build_model, get_arch


@pytest.fixture
def small(tmp_path):
    torch.manual_seed(0)
    model = build_model("student_cnn", width=8, depth=2, num_classes=4).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    path = export_onnx(model, tmp_path / "m.onnx", (3, 16, 16))
    x = np.random.default_rng(0).standard_normal((64, 3, 16, 16)).astype(np.float32)
    return model, path, x


def test_module_path_of_exported_nodes():
    assert q.module_path("/features/features.3/squeeze/Conv") == "features.3.squeeze"
    assert q.module_path("/features/features.13/features.13.1/features.13.1.0/Conv") == "features.13.1.0"
    assert q.module_path("/head/fc/Gemm") == "head.fc"


def test_int8_parity_on_a_tiny_model(small, tmp_path):
    _, path, x = small
    prepared = q.prepare_for_int8(path, tmp_path / "p.onnx")
    out = q.quantize_int8(prepared, tmp_path / "m.int8.onnx", x[:32], method="minmax")
    ops = {n.op_type for n in onnx.load(str(out)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    ref, got = q.run_onnx(path, x), q.run_onnx(out, x)
    assert q.agreement(got, ref) >= 0.9
    assert np.abs(got - ref).max() < 0.1 * np.abs(ref).max()  # int8 error is a few % of the output range


@pytest.mark.parametrize("method", q.CALIBRATION)
def test_calibration_methods_and_exclusion(small, tmp_path, method):
    _, path, x = small
    prepared = q.prepare_for_int8(path, tmp_path / "p.onnx")
    keep = q.nodes_matching(prepared, ["head.*"])
    assert keep and all(q.module_path(n) == "head.fc" for n in keep)
    out = q.quantize_int8(prepared, tmp_path / "m.int8.onnx", x[:32], method=method, exclude_nodes=keep)
    g = onnx.load(str(out)).graph
    fc = next(n for n in g.node if n.name in keep)
    producers = {o: n.op_type for n in g.node for o in n.output}
    assert all(producers.get(i) != "DequantizeLinear" for i in fc.input[1:])  # its weights stayed float
    assert q.agreement(q.run_onnx(out, x), q.run_onnx(path, x)) >= 0.85
    with pytest.raises(ConfigError, match="matches no quantizable layer"):
        q.nodes_matching(prepared, ["nope.*"])


def test_sensitivity_ranks_every_quantizable_layer(small, tmp_path):
    _, path, x = small
    prepared = q.prepare_for_int8(path, tmp_path / "p.onnx")
    rows = q.sensitivity(prepared, tmp_path, x[:16], x, q.run_onnx(path, x), method="minmax", per_channel=True,
                         exclude=[])
    assert len(rows) == len(q.quantizable_nodes(prepared))
    assert rows == sorted(rows, key=lambda r: -r["agreement"])


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_16bit_weight_storage(small, tmp_path, precision):
    model, path, x = small
    out = q.onnx_weight_storage(path, tmp_path / f"m.{precision}.onnx", precision)
    assert out.stat().st_size < 0.7 * path.stat().st_size
    ref, got = q.run_onnx(path, x), q.run_onnx(out, x)
    tol = 1e-2 if precision == "fp16" else 5e-2
    assert np.abs(got - ref).max() <= tol * np.abs(ref).max() and q.agreement(got, ref) >= 0.95
    half = q.half_storage(model, precision)
    assert all(p.dtype != torch.float32 for p in half.parameters())
    reloaded = build_from_spec(get_arch(model))
    reloaded.load_state_dict(half.state_dict())  # a 16-bit state_dict loads into the fp32 model
    assert next(reloaded.parameters()).dtype == torch.float32


def test_fold_batchnorm_is_exact_and_reloads():
    torch.manual_seed(0)
    model = build_model("resnet8", num_classes=3).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        want = model(x)
        folded = fold_batchnorm(model, (3, 16, 16))
        got = model(x)
    assert folded and not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    rebuilt = build_from_spec(get_arch(model))
    rebuilt.load_state_dict(model.state_dict())
    torch.testing.assert_close(rebuilt.eval()(x), got)


def test_fake_quant_simulates_int8_and_detaches_cleanly():
    torch.manual_seed(0)
    model = build_model("lenet300_100", num_classes=4).eval()
    w = model.fc1.weight.detach().clone()
    x = torch.randn(8, 1, 28, 28)
    fq = FakeQuantized(model)
    out = model(x)
    wq = model.fc1.weight.detach()
    scale = w.abs().amax(1, keepdim=True) / 127
    levels = wq / scale  # per-channel symmetric int8 grid: integers in [-127, 127]
    assert torch.allclose(levels, levels.round(), atol=1e-3) and levels.abs().max() <= 127 + 1e-3
    assert (wq - w).abs().le(scale / 2 + 1e-7).all()  # rounding to the nearest level
    out.sum().backward()
    assert model.fc1.parametrizations.weight.original.grad is not None  # straight-through gradients
    fq.remove()
    assert torch.equal(model.fc1.weight.detach(), w) and not hasattr(model.fc1, "parametrizations")


def test_quantize_stage_int8(trained, tmp_path):
    import json

    import edgevision as ev

    res = ev.quantize(trained, calibration="best", tolerance=100, qat="off", calib_samples=64, budget_s=0.2,
                      out=tmp_path / "q")
    rep = json.loads((res.run_dir / "quantize.json").read_text())
    assert [r["method"] for r in rep["calibration"]] == list(q.CALIBRATION)
    assert rep["speedup"] > 0 and ("NOT faster" in rep["verdict"]) == (not rep["faster"])
    art = ev.load_artifact(res.artifact)
    assert art.meta["precision"] == "int8" and art.model(torch.randn(2, *art.input_shape)).shape == (2, 3)


@pytest.mark.slow
def test_quantize_stage_runs_qat(trained, tmp_path):
    import json

    import edgevision as ev

    res = ev.quantize(trained, tolerance=0, auto_exclude=False, qat="on", epochs=1, calib_samples=32,
                      budget_s=0.2, out=tmp_path / "qat")
    rep = json.loads((res.run_dir / "quantize.json").read_text())
    assert rep["qat"] is not None and rep["qat"]["folded_batchnorm"]
    assert (res.run_dir / "qat.pt").exists()


def test_quantize_stage_fp16(trained, tmp_path):
    import edgevision as ev

    res = ev.quantize(trained, precision="fp16", out=tmp_path / "h")
    parent = ev.load_artifact(trained)
    saved = parent.path.stat().st_size - res.card["file_bytes"]
    assert saved >= 0.4 * 4 * res.card["params"]  # ~2 of every 4 weight bytes gone (the zip container stays)
    assert abs(res.card["metrics"]["drop_points"]) <= 5


def _weight_ranges(path) -> tuple[int, int]:
    """The extreme values of the int8 weight initializers of a QDQ file."""
    from onnx import numpy_helper

    vals = [numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer]
    w = [v for v in vals if v.dtype == np.int8 and v.ndim == 4]
    return min(int(v.min()) for v in w), max(int(v.max()) for v in w)


def test_reduce_range_keeps_weights_in_7_bits_and_int8_agrees(small, tmp_path):
    _, path, x = small
    prepared = q.prepare_for_int8(path, tmp_path / "p.onnx")
    seven = q.quantize_int8(prepared, tmp_path / "m7.onnx", x[:32], reduce_range="on")
    eight = q.quantize_int8(prepared, tmp_path / "m8.onnx", x[:32], reduce_range="off")
    assert _weight_ranges(seven)[0] >= -64 and _weight_ranges(seven)[1] <= 64
    assert _weight_ranges(eight)[0] < -64 or _weight_ranges(eight)[1] > 64
    # 7-bit weights agree with fp32 on every x86 CPU, VNNI or not
    assert q.agreement(q.run_onnx(seven, x), q.run_onnx(path, x)) >= 0.9


def test_reduce_range_auto_follows_the_cpu(monkeypatch):
    from edgevision.deploy.int8 import cpu

    monkeypatch.setattr(cpu, "is_x86", lambda: True)
    monkeypatch.setattr(cpu, "cpu_flags", lambda: frozenset({"avx2", "fma"}))
    assert cpu.reduce_range("auto") is True and cpu.reduce_range("off") is False
    monkeypatch.setattr(cpu, "cpu_flags", lambda: frozenset({"avx2", "avx512_vnni"}))
    assert cpu.reduce_range("auto") is False and cpu.reduce_range("on") is True
    monkeypatch.setattr(cpu, "cpu_flags", lambda: None)  # flags unreadable: the safe choice
    assert cpu.reduce_range(None) is True
    monkeypatch.setattr(cpu, "is_x86", lambda: False)  # ARM dot products sum in int32
    assert cpu.reduce_range("auto") is False
