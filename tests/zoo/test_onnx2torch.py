"""The verbs that train take a foreign ONNX file through onnx2torch (the zoo extra), or name what stops them."""

from __future__ import annotations

import sys

import pytest
import torch

import edgevision
from conftest import tiny_data
from edgevision.artifacts import load_artifact
from edgevision.errors import ConfigError

pytestmark = [pytest.mark.zoo, pytest.mark.usefixtures("one_thread")]
sys.path.insert(0, str(__import__("pathlib").Path(__file__).parents[1] / "deploy"))


def _plain(tmp_path, opset: int, seed: int = 0):
    pytest.importorskip("onnx2torch", reason="onnx2torch comes with the zoo extra (`make test-zoo`)")
    from test_foreign_onnx import PlainNet

    torch.manual_seed(seed)
    path = tmp_path / f"plain{opset}-{seed}.onnx"
    torch.onnx.export(PlainNet().eval(), (torch.randn(1, 3, 24, 24),), str(path), dynamo=False,
                      opset_version=opset)
    return path


def test_prune_of_a_foreign_onnx_file_reloads_and_exports(tmp_path):
    path = _plain(tmp_path, 17)
    data = tiny_data(n_train=64, size=24, classes=4)
    edgevision.evaluate(path, out=tmp_path / "e", data=data, mean=(0.5,), std=(0.25,))
    res = edgevision.prune(path, out=tmp_path / "p", sparsity=0.5, epochs=1, max_steps_per_epoch=2, data=data)
    assert res.card["model"]["name"] == "edgevision.models.onnxnet:onnx2torch_model"
    assert res.card["sparsity"]["weights"] == pytest.approx(0.5)
    art = load_artifact(res.artifact)
    x = torch.randn(2, 3, 24, 24)
    assert torch.isfinite(art.model(x)).all()
    edgevision.export(res.artifact, out=tmp_path / "x", engines=["onnxruntime"])


def test_a_changed_source_file_is_one_line(tmp_path):
    path = _plain(tmp_path, 17)
    data = tiny_data(n_train=64, size=24, classes=4)
    edgevision.evaluate(path, out=tmp_path / "e", data=data, mean=(0.5,), std=(0.25,))
    res = edgevision.prune(path, out=tmp_path / "p", sparsity=0.3, epochs=0, data=data)
    _plain(tmp_path, 17, seed=1).replace(path)  # other weights under the same name
    with pytest.raises(ConfigError, match="its graph changed since this model was converted"):
        load_artifact(res.artifact)
