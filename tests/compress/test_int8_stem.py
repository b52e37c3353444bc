"""The float stem for int8 (narrow-input first conv, and the conv behind its pool): found in any graph, measured."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from edgevision.deploy.int8 import graph as q
from edgevision.deploy.int8.stem import choose_stem, stem_nodes
from edgevision.deploy.onnx import export_onnx
from edgevision.models import build_model


def _export(model: nn.Module, shape: tuple[int, ...], tmp_path, name: str = "m") -> str:
    torch.manual_seed(0)
    return q.prepare_for_int8(export_onnx(model.eval(), tmp_path / f"{name}.onnx", shape), tmp_path / f"{name}.p.onnx")


def _ops(path, names: list[str]) -> list[str]:
    by_name = {n.name: n.op_type for n in onnx.load(str(path)).graph.node}
    return [by_name[n] for n in names]


def test_squeezenet_stem_is_conv_pool_and_the_conv_behind_it(tmp_path):
    path = _export(build_model("squeezenet1_1", num_classes=10), (3, 64, 64), tmp_path)
    stem = stem_nodes(path)
    assert _ops(path, stem) == ["Conv", "MaxPool", "Conv"]
    assert stem[0].startswith("/features/features.0/") and stem[2].startswith("/features/features.3/squeeze")


def test_stem_without_a_pool_is_the_first_conv_only(tmp_path):
    model = build_model("student_cnn", width=8, depth=2, convs_per_stage=2, num_classes=3)  # conv, conv, pool
    path = _export(model, (3, 24, 24), tmp_path)
    stem = stem_nodes(path)
    assert _ops(path, stem) == ["Conv"]
    first_conv = next(n.name for n in onnx.load(str(path)).graph.node if n.op_type == "Conv")
    assert stem == [first_conv]


def test_no_stem_on_wide_input_or_when_the_graph_branches(tmp_path):
    wide = nn.Sequential(nn.Conv2d(16, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 8, 3))
    assert stem_nodes(_export(wide, (16, 16, 16), tmp_path, "wide")) == []
    assert stem_nodes(_export(wide, (16, 16, 16), tmp_path, "wide"), max_channels=16) != []

    class Branchy(nn.Module):  # the pool output feeds a conv and a residual add: stop at the pool
        def __init__(self) -> None:
            super().__init__()
            self.stem, self.pool, self.conv = nn.Conv2d(3, 8, 3, padding=1), nn.MaxPool2d(2), nn.Conv2d(8, 8, 1)

        def forward(self, x):
            y = self.pool(torch.relu(self.stem(x)))
            return self.conv(y) + y

    path = _export(Branchy(), (3, 16, 16), tmp_path, "branchy")
    assert _ops(path, stem_nodes(path)) == ["Conv", "MaxPool"]


def test_a_mean_image_subtracted_in_the_graph_is_skipped(tmp_path):
    class MeanFirst(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("mean", torch.rand(1, 1, 12, 12))
            self.conv, self.fc = nn.Conv2d(1, 4, 3), nn.Linear(4 * 10 * 10, 2)

        def forward(self, x):
            return self.fc(torch.relu(self.conv(x - self.mean)).flatten(1))

    path = _export(MeanFirst(), (1, 12, 12), tmp_path)
    assert _ops(path, stem_nodes(path)) == ["Conv"]


@pytest.fixture
def prepared_cnn(tmp_path):
    model = build_model("student_cnn", width=8, depth=2, num_classes=3)
    path = _export(model, (3, 24, 24), tmp_path)
    x = np.random.default_rng(0).standard_normal((32, 3, 24, 24)).astype(np.float32)
    return path, x


def test_choose_stem_modes(prepared_cnn, tmp_path):
    path, x = prepared_cnn
    calls: list[list[str]] = []

    def quantize(dst, exclude):
        calls.append(list(exclude))
        return q.quantize_int8(path, dst, x, exclude_nodes=exclude)

    stem = stem_nodes(path)
    assert choose_stem(path, quantize, [], "int8", (3, 24, 24)) == ([], {"mode": "int8", "nodes": stem,
                                                                          "float": False})
    extra, rep = choose_stem(path, quantize, [], "float", (3, 24, 24))
    assert extra == stem and rep["float"] and not calls  # forced: nothing quantized or timed
    extra, rep = choose_stem(path, quantize, [], "auto", (3, 24, 24), budget_s=0.3)
    assert calls == [[], stem]  # both variants were built and timed
    assert set(rep["p50_ms"]) == {"int8", "float stem"} and all(v > 0 for v in rep["p50_ms"].values())
    faster = rep["p50_ms"]["float stem"] < rep["p50_ms"]["int8"]
    assert rep["float"] is faster and extra == (stem if faster else [])


def test_a_float_stem_keeps_the_first_conv_weights_in_float(prepared_cnn, tmp_path):
    path, x = prepared_cnn
    stem = stem_nodes(path)
    out = q.quantize_int8(path, tmp_path / "s.int8.onnx", x, exclude_nodes=stem)
    g = onnx.load(str(out)).graph
    producers = {o: n.op_type for n in g.node for o in n.output}
    layers = [n for n in g.node if n.op_type in ("Conv", "Gemm", "MatMul")]
    floats = [n.name for n in layers if producers.get(n.input[1]) != "DequantizeLinear"]
    assert floats == [n for n in stem if n in {m.name for m in layers}] and floats[0] == layers[0].name
    assert len(layers) > len(floats)  # the rest is int8
    assert q.agreement(q.run_onnx(out, x), q.run_onnx(path, x)) >= 0.9


def test_quantize_stage_records_the_stem_decision(trained, tmp_path):
    import edgevision as ev

    res = ev.quantize(trained, stem="float", qat="off", auto_exclude=False, budget_s=0.2, out=tmp_path / "q")
    rep = json.loads((res.run_dir / "quantize.json").read_text())
    assert rep["stem"]["float"] and rep["stem"]["nodes"] and set(rep["stem"]["nodes"]) <= set(rep["excluded"])
    exp = ev.export(trained, int8=True, stem="int8", min_agreement=0.8, out=tmp_path / "e")
    files = json.loads((exp.run_dir / "export.json").read_text())["files"]
    assert files[-1]["stem"]["float"] is False and files[-1]["excluded"] == []


def test_concat_inputs_share_the_output_scale(tmp_path):
    """Fire-module concats: after quantize_int8 every input Q/DQ of a Concat uses the Concat output's scale."""
    path = _export(build_model("squeezenet1_1", num_classes=10), (3, 48, 48), tmp_path)
    x = np.random.default_rng(0).standard_normal((16, 3, 48, 48)).astype(np.float32)
    out = q.quantize_int8(path, tmp_path / "sq.int8.onnx", x)
    g = onnx.load(str(out)).graph
    producer = {o: n for n in g.node for o in n.output}
    users = {i: n for n in g.node for i in n.input}
    concats = [n for n in g.node if n.op_type == "Concat"]
    assert len(concats) == 8  # fire2 … fire9
    for c in concats:
        scale = users[c.output[0]].input[1]
        assert [producer[i].input[1] for i in c.input] == [scale, scale]  # DQ inputs: the output's scale
    assert q.agreement(q.run_onnx(out, x), q.run_onnx(path, x)) >= 0.8


def test_share_concat_scales_leaves_shared_branches_alone(tmp_path):
    from edgevision.deploy.int8.concat import share_concat_scales

    class TwoUsers(nn.Module):  # branch a feeds the concat and a second conv: its Q must keep its own scale
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b, self.c = nn.Conv2d(3, 4, 1), nn.Conv2d(3, 4, 1), nn.Conv2d(4, 4, 1)

        def forward(self, x):
            a = torch.relu(self.a(x))
            return torch.cat([a, torch.relu(self.b(x))], 1).mean((2, 3)) + self.c(a).mean((2, 3)).repeat(1, 2)

    path = _export(TwoUsers(), (3, 8, 8), tmp_path)
    x = np.random.default_rng(0).standard_normal((8, 3, 8, 8)).astype(np.float32)
    model = onnx.load(str(q.quantize_int8(path, tmp_path / "t.int8.onnx", x)))
    assert share_concat_scales(model) == 0  # already applied where allowed; idempotent
    g = model.graph
    concat = next(n for n in g.node if n.op_type == "Concat")
    producer = {o: n for n in g.node for o in n.output}
    scales = {producer[i].input[1] for i in concat.input if producer[i].op_type == "DequantizeLinear"}
    assert len(scales) == 2  # the shared branch kept its own scale, the private one took the output's
