"""The faces report sections render from run-folder JSON only."""

from __future__ import annotations

import json

import numpy as np

from edgevision.faces.openset import evaluate_openset
from edgevision.report.faces import faces_experiments_section, faces_section
from edgevision.report.runs import collect


def test_faces_sections_render(tmp_path):
    rng = np.random.default_rng(0)
    ev = evaluate_openset((rng.normal(0.8, 0.1, 50), rng.normal(0.3, 0.1, 50)),
                          (rng.normal(0.8, 0.1, 50), rng.normal(0.3, 0.1, 50)), (0.01, 0.001))
    d = tmp_path / "eval"
    d.mkdir()
    (d / "card.json").write_text(json.dumps({"stage": "faces_eval", "status": "complete", "metrics": {}}))
    (d / "faces_eval.json").write_text(json.dumps({"rank1_test": 0.97, "openset": ev, "verification": ev}))
    e = tmp_path / "exp"
    e.mkdir()
    (e / "card.json").write_text(json.dumps({"stage": "faces_experiments", "status": "complete", "metrics": {}}))
    exp = {"images_per_id": [{"n": n, "augment": a, "top1": 0.5 + n / 20} for n in (1, 3) for a in ("none", "doc")],
           "input_size": [{"size": s, "top1": 0.9} for s in (16, 48)], "crop": [{"crop": "haar", "top1": 0.9,
                                                                                  "no_face": 50}]}
    (e / "faces_experiments.json").write_text(json.dumps(exp))
    views = collect([tmp_path])
    html = faces_section(views)
    assert "open-set ROC" in html and "1:1 pairs" in html and "1.00%" in html
    html2 = faces_experiments_section(views)
    assert "data:image/png" in html2 and "haar" in html2
    assert faces_section([]) is None and faces_experiments_section([]) is None
