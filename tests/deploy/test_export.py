"""Export: table, parity in onnxruntime and cv2.dnn, self-describing metadata, the .onnx loader."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from edgevision.deploy.export import EXPORTERS, cv2_compatible, cv2_outputs
from edgevision.deploy.onnx import export_onnx, ort_session, read_metadata
from edgevision.errors import ConfigError, EdgevisionError


def test_export_table():
    assert {"onnx", "pt"} <= set(EXPORTERS.names())
    onnx_fmt = EXPORTERS.get("onnx")
    assert onnx_fmt.suffix == ".onnx" and {"int8", "fp16", "bf16"} <= onnx_fmt.options


def test_export_runs_in_onnxruntime_and_cv2(exported):
    files = {f["precision"]: f for f in exported.card["files"]}
    fp32 = files["fp32"]
    assert fp32["onnxruntime"]["pass"] and fp32["onnxruntime"]["max_abs_err"] <= 1e-4
    assert fp32["cv2"]["pass"] and fp32["cv2"]["max_abs_err"] <= 1e-4  # cv2.dnn agrees with torch
    assert files["int8"]["onnxruntime"]["agreement"] >= 0.8


def test_onnx_metadata_makes_the_file_self_describing(exported):
    meta = read_metadata(exported.run_dir / "model.onnx")
    assert meta["precision"] == "fp32" and meta["task"]["class_names"]
    assert meta["preprocess"]["mean"] and meta["preprocess"]["input_size"] == [24, 24]
    assert meta["arch"]["name"] == "student_cnn" and meta["input"]["layout"] == "NCHW"
    assert read_metadata(exported.run_dir / "model.int8.onnx")["precision"] == "int8"


def test_onnx_artifacts_load_and_evaluate(exported, trained):
    import edgevision as ev

    art = ev.load_artifact(exported.run_dir / "model.onnx")
    ref = ev.load_artifact(trained)
    x = torch.randn(3, *art.input_shape)
    with torch.no_grad():
        torch.testing.assert_close(art.model(x), ref.model(x), atol=1e-4, rtol=1e-4)
    a = ev.evaluate(exported.run_dir / "model.onnx", out=exported.run_dir.parent / "eval-onnx").metrics["test"]
    b = ev.evaluate(trained, out=exported.run_dir.parent / "eval-pt").metrics["test"]
    assert a["top1"] == pytest.approx(b["top1"]) and a["loss"] == pytest.approx(b["loss"], abs=1e-4)
    assert ev.evaluate(exported.run_dir / "model.int8.onnx", out=exported.run_dir.parent / "eval-i8").metrics


def test_dynamic_batch(exported):
    s = ort_session(exported.run_dir / "model.onnx")
    for b in (1, 5):
        assert s.run(None, {"input": np.zeros((b, 3, 24, 24), np.float32)})[0].shape == (b, 3)


class SqueezeExcite(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc1, self.fc2, self.head = nn.Linear(8, 4), nn.Linear(4, 8), nn.Linear(8 * 16, 5)

    def forward(self, x):
        x = F.relu(self.conv(x))
        g = torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean((2, 3))))))
        x = x * g[:, :, None, None]
        return self.head(torch.flatten(F.adaptive_avg_pool2d(x, 4), 1))


def test_cv2_compatible_rewrite_fixes_unsqueeze_under_dynamic_batch(tmp_path):
    """cv2.dnn misreads Unsqueeze with a dynamic batch (wrong shapes, or SIGFPE); the rewrite makes it work."""
    torch.manual_seed(0)
    m = SqueezeExcite().eval()
    path = export_onnx(m, tmp_path / "se.onnx", (3, 16, 16))
    x = torch.randn(2, 3, 16, 16)
    before, err = cv2_outputs(path, x.numpy())
    with torch.no_grad():
        ref = m(x).numpy()
    assert err is not None or not np.allclose(before, ref, atol=1e-3)  # the OpenCV problem this rewrite exists for
    assert cv2_compatible(path) == 2
    after, err = cv2_outputs(path, x.numpy())
    assert err is None and np.abs(after - ref).max() < 1e-4
    assert np.abs(ort_session(path).run(None, {"input": x.numpy()})[0] - ref).max() < 1e-5


def test_cv2_compatible_rewrite_fixes_padded_convs_on_one_pixel(tmp_path):
    """cv2.dnn computes a padded k×k conv on a 1×1 map wrongly; the rewrite keeps only the tap that meets the pixel."""
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Conv2d(4, 8, 3, 2, 1), torch.nn.ReLU(),  # 2×2 → 1×1: left alone
                            torch.nn.Conv2d(8, 8, 3, 1, 1, groups=8),  # depthwise 3×3 on 1×1
                            torch.nn.Conv2d(8, 6, 5, 1, 2), torch.nn.Flatten()).eval()  # full 5×5 on 1×1
    path = export_onnx(m, tmp_path / "px.onnx", (4, 2, 2))
    x = torch.randn(3, 4, 2, 2)
    with torch.no_grad():
        ref = m(x).numpy()
    before, err = cv2_outputs(path, x.numpy())
    assert err is not None or not np.allclose(before, ref, atol=1e-3)  # wrong (sometimes NaN) without the rewrite
    assert cv2_compatible(path) == 2
    kernels = [list(a.ints) for n in onnx.load(str(path)).graph.node if n.op_type == "Conv"
               for a in n.attribute if a.name == "kernel_shape"]
    assert kernels == [[3, 3], [1, 1], [1, 1]]
    after, err = cv2_outputs(path, x.numpy())
    assert err is None and np.abs(after - ref).max() < 1e-4
    assert np.abs(ort_session(path).run(None, {"input": x.numpy()})[0] - ref).max() < 1e-5
    assert cv2_compatible(path) == 0  # idempotent


def test_export_errors(trained, exported, tmp_path):
    import edgevision as ev

    with pytest.raises(ConfigError, match="does not support --int8"):
        ev.export(trained, format="pt", int8=True, out=tmp_path / "a")
    with pytest.raises(ConfigError, match=r"--format onnx needs a torch artifact .*converts with --format openvino"):
        ev.export(exported.run_dir / "model.onnx", out=tmp_path / "b")
    with pytest.raises(EdgevisionError, match=r"unknown export format 'tensorrt'; installed: .*onnx"):
        ev.export(trained, format="tensorrt", out=tmp_path / "c")


def test_pt_export_with_fp16_storage(trained, tmp_path):
    import edgevision as ev

    res = ev.export(trained, format="pt", fp16=True, out=tmp_path / "pt")
    f = res.card["files"][0]
    assert f["precision"] == "fp16" and f["torch"]["pass"]
    assert json.loads((res.run_dir / "export.json").read_text())["format"] == "pt"


@pytest.mark.parametrize("fmt,int8,kept,left_out", [
    ("tflite", True, {"int8", "calib_samples"}, {"opset", "dynamic_batch", "engines", "fp16", "bf16", "calibration",
                                                 "per_channel", "reduce_range", "exclude", "stem", "tolerance"}),
    ("executorch", False, {"int8"}, {"opset", "dynamic_batch", "engines", "calib_samples", "fp16"}),
    ("ncnn", False, set(), {"opset", "engines", "int8", "calib_samples"}),
    ("openvino", True, {"opset", "dynamic_batch", "bf16", "calib_samples", "tolerance"}, {"engines", "stem", "fp16"}),
    ("onnx", False, {"opset", "dynamic_batch", "engines", "fp16", "int8"}, {"calibration", "calib_samples", "stem"}),
    ("best", True, {"opset", "engines", "calibration", "tolerance"}, set()),
])
def test_the_saved_config_holds_only_the_options_of_the_format(fmt, int8, kept, left_out):
    from edgevision.configs.deploy import ExportConfig
    from edgevision.deploy.export import saved_config

    d = saved_config(ExportConfig(artifact="m.pt", format=fmt, int8=int8))
    common = {"artifact", "format", "holdout", "rtol", "min_agreement", "data", "threads"}
    assert common | kept <= set(d) and not left_out & set(d), sorted(d)
    assert ExportConfig.model_validate(d).format == fmt  # it still reads back as the export's config


def test_a_pt_export_records_no_onnx_options(trained, tmp_path):
    import yaml

    import edgevision as ev

    res = ev.export(trained, format="pt", fp16=True, out=tmp_path / "pt")
    saved = yaml.safe_load((res.run_dir / "config.yaml").read_text())
    assert saved["format"] == "pt" and saved["fp16"] is True
    assert not {"opset", "dynamic_batch", "engines", "calibration", "int8"} & set(saved), sorted(saved)


def test_profile_runs_an_onnx_file(exported, tmp_path):
    import edgevision as ev

    res = ev.profile(str(exported.run_dir / "model.int8.onnx"), threads=1, budget_s=0.05, out=tmp_path / "p")
    p = res.card["profile"]
    assert next(iter(p["latency"])) == "onnxruntime" and set(p["latency"]) <= {"onnxruntime", "openvino"}
    assert p["macs"] > 0 and p["params"] > 0


@pytest.mark.slow
@pytest.mark.data
def test_int8_export_meets_99_percent_agreement_on_mnist(tmp_path):
    """The bar on a real trained model: int8 top-1 agreement ≥ 99 % on the calibration hold-out."""
    import edgevision as ev
    from conftest import require_data

    require_data("mnist")
    train = ev.train(model="lenet5", data={"source": "mnist", "limit": 6000}, epochs=2, batch_size=64,
                     optimizer="adamw", lr=2e-3, out=tmp_path / "t")
    res = ev.export(train.artifact, int8=True, out=tmp_path / "e")  # default min_agreement=0.99, or it raises
    i8 = next(f for f in res.card["files"] if f["precision"] == "int8")
    assert i8["onnxruntime"]["agreement"] >= 0.99 and i8["engines"] == ["onnxruntime"]


def test_int8_under_the_bar_is_retried_with_the_other_weight_width(trained, tmp_path, monkeypatch):
    """reduce_range auto: when the first int8 file misses the agreement bar, the other width is tried and the
    better file kept, and its metadata says which width it has."""
    import edgevision as ev
    from edgevision.deploy import export as ex

    widths, real_check = [], ex.check

    def quantize_spy(*a, reduce_range=None, **k):
        widths.append(reduce_range)
        return real_quantize(*a, reduce_range=reduce_range, **k)

    def check_7bit_fails(path, precision, x, ref, cfg, mode):
        res = real_check(path, precision, x, ref, cfg, mode)
        if precision == "int8" and widths[-1]:  # pretend the 7-bit file agrees on only half the samples
            res["onnxruntime"] = {**res["onnxruntime"], "agreement": 0.5, "pass": False}
            res["pass"] = False
        return res

    real_quantize = ex.q.quantize_int8
    monkeypatch.setattr(ex.cpu, "needs_reduce_range", lambda: True)
    monkeypatch.setattr(ex.q, "quantize_int8", quantize_spy)
    monkeypatch.setattr(ex, "check", check_7bit_fails)
    res = ev.export(trained, int8=True, min_agreement=0.5, stem="int8", out=tmp_path / "e")
    assert widths == [True, False]
    row = next(f for f in json.loads((res.run_dir / "export.json").read_text())["files"] if f["precision"] == "int8")
    assert row["weight_bits"] == 8
    assert read_metadata(res.run_dir / "model.int8.onnx")["weight_bits"] == 8
