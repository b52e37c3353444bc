"""The HTML report is one self-contained file built from run-folder files only."""

import re

import pytest

import edgevision as ev
from conftest import tiny_data
from edgevision.errors import EdgevisionError


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("rep")
    ev.train(out=root / "train", model="student_cnn", model_kwargs={"width": 8, "depth": 2}, data=tiny_data(n_train=48),
             epochs=2, batch_size=16)
    ev.evaluate(root / "train", out=root / "eval")
    return root


def test_report_is_self_contained(run):
    res = ev.report(run)
    html = res.artifact.read_text()
    assert res.artifact == run / "report.html"
    for section in ("Stages", "Training curves", "Evaluation", "Cards"):
        assert f">{section}<" in html
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", html)
    assert "<script" not in html
    assert html.count("data:image/png;base64,") >= 2


def test_report_of_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(EdgevisionError, match="no finished stages"):
        ev.report(tmp_path)
