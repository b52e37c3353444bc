"""The report sections: lineage, activation histograms with dead-ReLU flags, Pareto plots, the eval
gallery and the demo summary — on a tiny train → prune → pack → eval run, plus hand-made cases."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from torch import nn

import edgevision as ev
from conftest import tiny_data
from edgevision.report.lineage import build_graph
from edgevision.report.pareto import collect_points, pareto_front
from edgevision.report.runs import collect
from edgevision.train.activations import activation_stats

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("rep9")
    data = tiny_data(n_train=48)
    ev.train(out=root / "train", model="student_cnn", model_kwargs={"width": 4, "depth": 2}, data=data, epochs=1,
             batch_size=16)
    ev.prune(root / "train", out=root / "prune", sparsity=0.5, epochs=1, batch_size=16)
    ev.pack(root / "prune", out=root / "pack")
    ev.evaluate(root / "pack", out=root / "eval", gallery=4)
    return root


def test_lineage_follows_parent_links(run):
    views = collect([run])
    nodes, edges = build_graph(views)
    names = [n["name"] for n in nodes]
    pairs = {(names[i], names[j]) for i, j in edges}
    assert {("train", "prune"), ("prune", "pack"), ("pack", "eval")} <= pairs
    roles = {n["name"]: n["role"] for n in nodes}
    assert roles["prune"] == "pruned" and roles["pack"] == "packed" and not nodes[names.index("eval")]["makes"]


def test_report_has_the_new_sections(run):
    html = ev.report(run).artifact.read_text()
    for anchor in ("lineage", "gallery", "activations", "pareto"):
        assert f'<section id="{anchor}">' in html, anchor
    lineage = html.split('<section id="lineage">')[1].split("</section>")[0]
    assert "<svg" in lineage and lineage.count("<rect") == 4 and "trained → pruned → packed" in lineage
    gallery = html.split('<section id="gallery">')[1].split("</section>")[0]
    assert gallery.count("<img") >= 4 and "Worst mistakes" in gallery
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", html) and "<script" not in html


def test_eval_writes_a_ranked_gallery(run):
    g = json.loads((run / "eval" / "gallery.json").read_text())
    assert g["ranked"] and len(g["samples"]) == 4 and 1 <= len(g["worst"]) <= 4
    errs = [w["error"] for w in g["worst"]]
    assert errs == sorted(errs, reverse=True) and errs[0] >= max(s["error"] for s in g["samples"])
    assert all((run / "eval" / w["file"]).stat().st_size > 100 for w in g["worst"])
    assert "true " in g["samples"][0]["caption"]


def test_pareto_points_use_eval_metrics_and_the_front_is_right(run):
    pts = collect_points(collect([run]))
    assert {p["label"].split(" ")[0] for p in pts} >= {"train", "prune", "pack"}
    x = np.array([1.0, 2.0, 3.0, 2.0, 4.0])
    y = np.array([0.5, 0.7, 0.6, 0.7, 0.9])
    assert pareto_front(x, y).tolist() == [True, True, False, True, True]


def test_dead_relu_flags():
    torch.manual_seed(0)
    conv = nn.Conv2d(1, 4, 1)
    with torch.no_grad():
        conv.weight[:] = torch.tensor([1.0, -1.0, -2.0, -3.0]).view(4, 1, 1, 1)
        conv.bias.zero_()
    model = nn.Sequential(conv, nn.ReLU(), nn.Flatten(), nn.Linear(4 * 9, 3), nn.ReLU())
    x = torch.rand(8, 1, 3, 3) + 0.1  # positive inputs: channels 1–3 are negative before the ReLU, always 0 after
    rows = activation_stats(model, x)
    assert [r["layer"] for r in rows] == ["1", "4"]
    assert rows[0]["units"] == 4 and rows[0]["dead"] == 3 and rows[0]["dead_frac"] == 0.75
    assert rows[0]["zero_frac"] == pytest.approx(0.75) and sum(rows[0]["counts"]) == 8 * 4 * 9


def test_demo_summary_section(tmp_path):
    from edgevision.report.gallery import demo_section
    from edgevision.report.runs import StageView

    card = {"stage": "demo", "metrics": {"frames": 10, "mean_fps": 41.5, "engine": "onnxruntime", "threads": 1,
                                         "dropped": 0, "source": "clip.mp4",
                                         "stages": {"infer": {"mean_ms": 3.0, "p50_ms": 2.9, "p90_ms": 3.4}}}}
    html = demo_section([StageView("demo", tmp_path, card)])
    assert "41.5 fps" in html and "onnxruntime" in html and "infer" in html
