"""Zoo architectures as foreign ONNX files: plain ``torch.onnx.export`` of a timm / torchvision network, then
described, int8-quantized (agreement and int8 × fp32 ratio reported) and benched by edgevision."""

from __future__ import annotations

import json

import pytest
import torch
from zoo_nets import TORCHVISION, build, require_zoo

import edgevision
from conftest import tiny_data
from edgevision.deploy.onnx import read_metadata
from edgevision.deploy.onnxstats import onnx_macs

pytestmark = [pytest.mark.zoo, pytest.mark.usefixtures("one_thread")]
SIZE, CLASSES = 64, 4
IMAGENET = {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)}


@pytest.mark.parametrize("ref", [f"torchvision:{n}" for n in TORCHVISION])
def test_zoo_network_as_foreign_onnx(ref, tmp_path):
    require_zoo()
    from edgevision.models.complexity import count_macs

    model = build(ref, CLASSES)
    path = tmp_path / "net.onnx"
    torch.onnx.export(model, (torch.randn(1, 3, SIZE, SIZE),), str(path), dynamo=False, input_names=["image"],
                      output_names=["logits"], dynamic_axes={"image": {0: "n"}, "logits": {0: "n"}})
    assert onnx_macs(path, (3, SIZE, SIZE)) == pytest.approx(count_macs(model, (3, SIZE, SIZE)), rel=0.02)
    data = tiny_data(n_train=64, size=SIZE, classes=CLASSES)
    res = edgevision.quantize(path, out=tmp_path / "q", data=data, calib_samples=32, holdout=32, auto_exclude=False,
                              qat="off", min_agreement=0.0, budget_s=0.2, **IMAGENET)
    rep = json.loads((tmp_path / "q" / "quantize.json").read_text())
    assert read_metadata(res.artifact)["precision"] == "int8" and rep["speedup"] > 0
    assert 0 <= rep["parity"]["agreement"] <= 1  # random weights: reported, not held to the 0.99 bar
    bench = edgevision.bench([str(path), str(res.artifact)], out=tmp_path / "b", engines=["onnxruntime"],
                             budget_s=0.2, rounds=3, peak=False, data=data, limit=32)
    rows = json.loads((tmp_path / "b" / "bench.json").read_text())["rows"]
    assert [r["precision"] for r in rows] == ["fp32", "int8"] and all(r["p50_ms"] > 0 for r in rows)
    assert bench.card is not None
