"""Shipped pretrained models: resolved by name wherever an artifact is expected, listed, with cards and budgets."""

import json

import pytest
import torch

from edgevision import shipped
from edgevision.artifacts import load_artifact, resolve
from edgevision.cli import main
from edgevision.errors import ArtifactError

REQUIRED_CARD = ("name", "summary", "task", "metrics", "license", "benchmark", "data")


def run_cli(capsys, *argv):
    capsys.readouterr()
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    """A tiny trained model packed as .evz (what a shipped file is)."""
    root = tmp_path_factory.mktemp("shipped")
    assert main(["train", "--model", "student_cnn", "--model-kwargs", "width=8", "depth=2", "--data",
                 "synthetic:shapes", "--input-size", "24", "--epochs", "1", "--batch-size", "16",
                 "--set", "data.options.n_train=48", "--set", "data.options.n_val=16", "--set",
                 "data.options.n_test=16", "--set", "data.options.num_classes=3", "--out", str(root / "t")]) == 0
    assert main(["pack", str(root / "t"), "--out", str(root / "p")]) == 0
    return next((root / "p").glob("*.evz"))


@pytest.fixture
def folder(tmp_path, packed, monkeypatch):
    """A shipped folder with one model, ``tiny-shapes``."""
    d = tmp_path / "pretrained"
    d.mkdir()
    (d / "tiny-shapes.evz").write_bytes(packed.read_bytes())
    card = {"name": "tiny-shapes", "summary": "three shapes", "task": "classification", "metrics": {"top1": 0.5},
            "license": "test", "benchmark": {"script": "none"}, "data": "synthetic:shapes"}
    (d / "tiny-shapes.card.json").write_text(json.dumps(card))
    monkeypatch.setattr(shipped, "folder", lambda: d)
    return d


def test_a_name_resolves_to_the_shipped_file_and_its_card(folder):
    assert resolve("tiny-shapes") == folder / "tiny-shapes.evz"
    art = load_artifact("tiny-shapes")
    assert art.card["summary"] == "three shapes"
    assert art.model(torch.zeros(1, *art.input_shape)).shape == (1, 3)


def test_an_existing_path_wins_over_a_name(folder, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny-shapes").mkdir()
    with pytest.raises(ArtifactError, match="no finished stage here"):
        resolve("tiny-shapes")  # a folder of that name, which is not a run folder


def test_an_unknown_name_lists_the_shipped_ones(folder, capsys):
    code, _, err = run_cli(capsys, "eval", "tiny-shape")
    assert code == 2
    assert err.count("\n") == 1 and "did you mean: tiny-shapes" in err and "shipped models: tiny-shapes" in err
    with pytest.raises(ArtifactError, match="no such file or run folder"):
        resolve("runs/missing")  # a path is not mistaken for a name


def test_models_pretrained_and_list_pretrained(folder, capsys):
    code, out, _ = run_cli(capsys, "models", "--pretrained")
    assert code == 0 and "tiny-shapes" in out and "classification" in out and "top1 0.500" in out
    code, out, _ = run_cli(capsys, "list", "pretrained")
    assert code == 0 and "tiny-shapes" in out and "three shapes" in out


def test_verbs_take_a_shipped_name(folder, tmp_path, capsys):
    assert run_cli(capsys, "eval", "tiny-shapes", "--out", tmp_path / "e")[0] == 0
    code, out, _ = run_cli(capsys, "profile", "tiny-shapes", "--out", tmp_path / "p", "--engines", "torch")
    assert code == 0 and "torch" in out
    assert run_cli(capsys, "export", "tiny-shapes", "--out", tmp_path / "x")[0] == 0
    assert (tmp_path / "x" / "model.onnx").is_file()


def test_a_shipped_name_teaches(folder, tmp_path):
    from edgevision.compress.distill.teachers import build_teacher

    teacher = build_teacher("tiny-shapes")
    assert teacher.logits(torch.rand(2, 3, 24, 24)).shape == (2, 3)
    with pytest.raises(Exception, match=r"a shipped model.*did you mean: tiny-shapes"):
        build_teacher("tiny-shape")


def test_the_docs_list_exactly_the_shipped_models():
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "docs" / "pretrained.md").read_text()
    table = page.split("## What ships", 1)[1].split("\n## ", 1)[0]
    documented = sorted(line.split("`")[1] for line in table.splitlines() if line.startswith("| `"))
    assert documented and documented == shipped.names()


@pytest.mark.parametrize("name", shipped.names())
def test_each_shipped_model_loads_runs_and_keeps_its_budget(name):
    p = shipped.path(name)
    assert p is not None and p.stat().st_size <= shipped.MAX_BYTES
    card = shipped.card(name)
    assert all(k in card for k in REQUIRED_CARD), sorted(set(REQUIRED_CARD) - set(card))
    art = load_artifact(name)
    assert art.card["name"] == name
    with torch.no_grad():
        y = art.model(torch.rand(1, *art.input_shape))
    assert torch.isfinite(y if isinstance(y, torch.Tensor) else y[0]).all()
