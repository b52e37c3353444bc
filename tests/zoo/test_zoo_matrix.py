"""The zoo matrix: each foreign architecture built → saved → reloaded → shrunk (30 % of MACs asked) → exported
with parity → int8-quantized → benched, on 64² inputs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from zoo_nets import ZOO, build, require_zoo

import edgevision
from conftest import tiny_data
from edgevision.artifacts import load_artifact, save_model
from edgevision.errors import EdgevisionError
from edgevision.models import MODELS, build_model
from edgevision.models.complexity import count_macs

pytestmark = [pytest.mark.zoo, pytest.mark.usefixtures("one_thread")]
SIZE, CLASSES = 64, 4
PRE = {"input_size": [SIZE, SIZE], "channels": 3, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
       "resize": "stretch", "color": "RGB", "scale": 1 / 255}


def _edgevision_model(ref: str) -> tuple[object, bool]:
    """(model, by_reference): through edgevision's ``timm:`` / ``torchvision:`` references when the model registry
    takes them, else the architecture registered in this process (it then reloads in this process only)."""
    try:
        return build_model(ref, num_classes=CLASSES).eval(), True
    except EdgevisionError:
        name = "zoo." + ref.replace(":", ".")
        if name not in MODELS:
            MODELS.register(name, lambda num_classes=CLASSES, r=ref: build(r, num_classes), family="zoo")
        return build_model(name, num_classes=CLASSES).eval(), False


@pytest.mark.parametrize("ref", ZOO)
def test_zoo_matrix(ref, tmp_path):
    require_zoo()
    model, by_reference = _edgevision_model(ref)
    data = tiny_data(n_train=64, size=SIZE, classes=CLASSES, **{})
    dense = save_model(tmp_path / "dense.pt", model, task={"name": "classification", "class_names": list("abcd")},
                       preprocess=PRE, meta={"data": data})
    macs = count_macs(load_artifact(dense).model, (3, SIZE, SIZE))
    if by_reference:  # a fresh process rebuilds it from the recorded reference
        code = f"from edgevision.artifacts import load_artifact; print(type(load_artifact({str(dense)!r}).model))"
        assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).returncode == 0
    try:
        shrunk = edgevision.shrink(dense, out=tmp_path / "s", macs=0.3, epochs=0).artifact
    except EdgevisionError as e:  # allowed only as one line with its reason
        assert "\n" not in str(e) and len(str(e)) < 400
        shrunk = None
    if shrunk is not None:
        removed = 1 - count_macs(load_artifact(shrunk).model, (3, SIZE, SIZE)) / macs
        assert removed >= 0.25
    exp = edgevision.export(shrunk or dense, out=tmp_path / "e", engines=["onnxruntime"])
    assert json.loads((tmp_path / "e" / "card.json").read_text())["files"][0]["pass"]
    q = edgevision.quantize(shrunk or dense, out=tmp_path / "q", calib_samples=32, holdout=32, qat="off",
                            auto_exclude=False, min_agreement=0.0, budget_s=0.2)
    rep = json.loads((tmp_path / "q" / "quantize.json").read_text())
    assert 0 <= rep["parity"]["agreement"] <= 1 and rep["speedup"] > 0  # random weights: reported, not required
    edgevision.bench([str(exp.artifact), str(q.artifact)], out=tmp_path / "b", engines=["onnxruntime"],
                     budget_s=0.2, rounds=3, peak=False, limit=32)
    rows = json.loads((tmp_path / "b" / "bench.json").read_text())["rows"]
    assert [r["precision"] for r in rows] == ["fp32", "int8"] and all(r["p50_ms"] > 0 for r in rows)
