"""``export --format openvino``: IR files (fp32, bf16 compute, NNCF int8) parity-checked in OpenVINO, on a plain CNN,
a residual network and a concatenating one; the ``.xml`` artifact; missing extra and parity failures."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

import edgevision as ev
from conftest import tiny_data
from edgevision.artifacts import load_artifact
from edgevision.cli import main
from edgevision.deploy import openvino as ovx
from edgevision.deploy.onnx import export_onnx
from edgevision.errors import ConfigError, EdgevisionError
from exporter_models import MODELS, train_each

pytest.importorskip("openvino", reason="the openvino extra is not installed (pip install 'edgevision[openvino]')")
pytest.importorskip("nncf", reason="the openvino extra is not installed (pip install 'edgevision[openvino]')")



@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_each(tmp_path_factory.mktemp("ov"))


@pytest.mark.parametrize("kind", list(MODELS))
def test_openvino_export_passes_parity_in_openvino(trained, kind, tmp_path):
    res = ev.export(trained[kind], format="openvino", bf16=True, int8=True, min_agreement=0.9, out=tmp_path / "e")
    files = {f["precision"]: f for f in res.card["files"]}
    assert set(files) == {"fp32", "bf16", "int8"} and res.card["rejected"] == []
    assert files["fp32"]["openvino"]["max_rel_err"] <= 1e-4
    assert files["bf16"]["openvino"]["agreement"] >= 0.9 and files["int8"]["openvino"]["agreement"] >= 0.9
    test = files["int8"]["openvino"]["test"]
    assert test["samples"] == 32 and abs(test["drop_points"] - 100 * (test["fp32"] - test["int8"])) < 1e-9
    for f in files.values():
        xml = tmp_path / "e" / f["file"]
        assert xml.is_file() and xml.with_suffix(".bin").is_file()
        assert f["bytes"] == xml.stat().st_size + xml.with_suffix(".bin").stat().st_size
    if kind == "concat":  # 0.7 M weights (the other two are so small that the graph text dominates the size)
        assert files["int8"]["bytes"] < files["bf16"]["bytes"] < files["fp32"]["bytes"]


def _int8_onnx(trained, tmp_path):
    res = ev.export(trained["plain"], format="onnx", int8=True, min_agreement=0.0, out=tmp_path / "e8")
    return res.run_dir / "model.int8.onnx"


def test_a_foreign_onnx_file_converts_to_fp32_and_int8_irs(trained, tmp_path):
    """A file from plain ``torch.onnx.export`` (no edgevision metadata), described by flags once."""
    model = load_artifact(trained["concat"]).model
    path = tmp_path / "user.onnx"
    torch.onnx.export(model, (torch.randn(1, 3, 32, 32),), str(path), dynamo=False, input_names=["x"])
    res = ev.export(path, format="openvino", int8=True, min_agreement=0.8, out=tmp_path / "e",
                    data=tiny_data(n_train=64, size=32), mean=[0.5] * 3, std=[0.25] * 3)
    files = {f["precision"]: f for f in res.card["files"]}
    assert set(files) == {"fp32", "int8"} and files["fp32"]["openvino"]["max_rel_err"] <= 1e-4
    assert res.card["params"] == sum(p.numel() for p in model.parameters())
    ir = load_artifact(tmp_path / "e" / "model.xml")
    assert ir.preprocess["mean"] == [0.5] * 3  # the description travels into the IR's metadata
    with pytest.raises(ConfigError, match="the ONNX file is int8; --format openvino converts fp32 files"):
        ev.export(_int8_onnx(trained, tmp_path), format="openvino",
                  out=tmp_path / "x")
    with pytest.raises(ConfigError, match="--format pt needs a torch artifact"):
        ev.export(path, format="pt", out=tmp_path / "t")


def test_an_ir_is_an_artifact_that_evaluates_like_torch(trained, tmp_path):
    res = ev.export(trained["residual"], format="openvino", out=tmp_path / "e")
    assert res.artifact == tmp_path / "e" / "model.xml"
    art = load_artifact(res.artifact)
    ref = load_artifact(trained["residual"])
    x = np.random.default_rng(0).standard_normal((3, *ref.input_shape), np.float32)
    with torch.inference_mode():
        want = ref.model.eval()(torch.from_numpy(x)).numpy()
    got = art.model(torch.from_numpy(x)).numpy()
    assert art.task == ref.task and art.input_shape == ref.input_shape and art.meta["precision"] == "fp32"
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    m_ir = ev.evaluate(tmp_path / "e" / "model.xml", out=tmp_path / "ev1").metrics
    m_pt = ev.evaluate(trained["residual"], out=tmp_path / "ev2").metrics
    assert m_ir["test"]["top1"] == pytest.approx(m_pt["test"]["top1"])


def test_parity_failure_removes_the_ir_and_its_weights(trained, tmp_path, capsys):
    out = tmp_path / "e"
    code = main(["export", str(trained["plain"]), "--format", "openvino", "--rtol", "1e-12", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "model.xml: parity check failed in openvino: max_rel_err" in err[0]
    assert "threshold 1e-12" in err[0] and "removed" in err[0]
    assert not (out / "model.xml").exists() and not (out / "model.bin").exists()


def test_the_card_records_the_test_metric_the_int8_check_measured(trained, tmp_path):
    """The fp32 and int8 IRs' test metrics, measured for the accuracy gate, are the card's ``metrics``."""
    res = ev.export(trained["plain"], format="openvino", int8=True, min_agreement=0.5, tolerance=100,
                    out=tmp_path / "e")
    test = next(f for f in res.card["files"] if f["precision"] == "int8")["openvino"]["test"]
    m = res.card["metrics"]
    assert m["test"] == {"top1": test["int8"]} and m["fp32_test"] == {"top1": test["fp32"]}
    assert m["drop_points"] == pytest.approx(test["drop_points"])
    assert m["files"] == {"model.xml": {"top1": test["fp32"]}, "model.int8.xml": {"top1": test["int8"]}}


def test_a_re_export_removes_the_previous_ir(trained, tmp_path):
    out = tmp_path / "e"
    ev.export(trained["plain"], format="openvino", int8=True, min_agreement=0.5, out=out)
    assert (out / "model.int8.bin").exists()
    ev.export(trained["plain"], out=out, engines=["onnxruntime"])
    assert not list(out.glob("model*.xml")) and not list(out.glob("model*.bin")) and (out / "model.onnx").exists()


def test_missing_extra_and_unknown_format_are_one_line(trained, tmp_path, capsys, monkeypatch):
    code = main(["export", str(trained["plain"]), "--format", "openvnio", "--out", str(tmp_path / "a")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "unknown export format 'openvnio'" in err[0]
    assert "installed: " in err[0] and "openvino" in err[0] and "onnx" in err[0]
    monkeypatch.setattr(ovx, "available", lambda: False)
    code = main(["export", str(trained["plain"]), "--format", "openvino", "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "pip install 'edgevision[openvino]'" in err[0]
    assert not (tmp_path / "b").exists()
    with pytest.raises(ConfigError, match=r"missing: (\S+ \(pip install [^)]*\), )*openvino \(pip install "
                       r"'edgevision\[openvino\]'\)"):
        ev.export(trained["plain"], format="nope", out=tmp_path / "c")


def test_int8_falls_back_to_accuracy_aware_quantization_below_the_bar(trained, tmp_path):
    """Against a reference the int8 model cannot match, NNCF's accuracy control runs and reports the float layers."""
    art = load_artifact(trained["plain"])
    model = ovx.convert(export_onnx(art.model, tmp_path / "m.onnx", art.input_shape))
    rng = np.random.default_rng(0)
    calib = rng.standard_normal((16, *art.input_shape), np.float32)
    x = rng.standard_normal((16, *art.input_shape), np.float32)
    ref = rng.standard_normal((16, 4), np.float32)  # unrelated outputs: default int8 agreement is far below 1
    qm, report = ovx.quantize_int8(model, calib, x, ref, max_drop=0.0)
    assert report["fallback"] and report["agreement_default"] < 1 and isinstance(report["float_layers"], list)
    assert ovx.run_ir(qm, x).shape == (16, 4)


def test_a_damaged_ir_is_one_line(tmp_path, capsys):
    (tmp_path / "m.xml").write_text("<net>not an ir")
    (tmp_path / "m.bin").write_bytes(b"")
    code = main(["eval", str(tmp_path / "m.xml"), "--out", str(tmp_path / "ev")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "m.xml" in err[0]
    (tmp_path / "m2.xml").write_text("x")
    with pytest.raises(EdgevisionError, match=r"weights file m2\.bin is missing"):
        load_artifact(tmp_path / "m2.xml")


def test_an_operator_openvino_lacks_is_named_with_its_node(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node("FooBar", ["x"], ["y"], name="my_node", domain="com.example")
    vi = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 3]) for n in ("x", "y")]
    model = helper.make_model(helper.make_graph([node], "g", [vi[0]], [vi[1]]),
                              opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
    onnx.save(model, tmp_path / "bad.onnx")
    with pytest.raises(EdgevisionError, match=r"bad\.onnx: OpenVINO cannot convert it \(.*FooBar.*\); node\(s\): "
                       r"my_node"):
        ovx.convert(tmp_path / "bad.onnx")


def test_openvino_and_nncf_send_no_telemetry_and_fork_nothing(tmp_path, monkeypatch):
    """Converting and NNCF-quantizing start no child process (the telemetry sender) and leave consent off."""
    import multiprocessing.popen_fork as popen_fork

    forks = []
    real = popen_fork.Popen._launch
    monkeypatch.setattr(popen_fork.Popen, "_launch", lambda self, obj: forks.append(obj) or real(self, obj))
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                                torch.nn.Flatten(), torch.nn.Linear(4, 3)).eval()
    fp32 = export_onnx(model, tmp_path / "m.onnx", (3, 16, 16))
    x = np.random.default_rng(0).standard_normal((8, 3, 16, 16)).astype(np.float32)
    ovx.quantize_int8(ovx.convert(fp32), x, x, model(torch.from_numpy(x)).detach().numpy(), max_drop=100.0)
    from openvino_telemetry.main import Telemetry

    time.sleep(0.5)  # the sender forks from a worker thread
    assert forks == [] and Telemetry().consent is False
