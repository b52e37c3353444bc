"""Small words that must be right: "larger" for a file that grew, and default folders named after the input."""

from __future__ import annotations

import re

from conftest import tiny_data
from edgevision.cli import main
from edgevision.stages import default_out


def test_pack_says_larger_when_the_evz_is_larger(tmp_path, capsys):
    """A tiny dense fp32 model gains the container's header and tables, so its .evz is larger than fp32."""
    train = ["train", "--model", "hinton_mlp", "--data", "synthetic:shapes", "--input-size", "8", "--channels", "1",
             "--epochs", "1", "--set", "model_kwargs.hidden=[4]", "--out", str(tmp_path / "t")]
    for k, v in tiny_data(n_train=16, size=8, classes=2)["options"].items():
        train += ["--set", f"data.options.{k}={v}"]
    assert main(train) == 0
    capsys.readouterr()
    assert main(["pack", str(tmp_path / "t"), "--out", str(tmp_path / "p")]) == 0
    out, err = capsys.readouterr()
    text = " ".join((out + err).split())
    assert re.search(r"\d\.\d+× larger than", text) and "smaller" not in text, text


def test_size_words():
    from edgevision.utils.text import size_vs

    assert size_vs(100, 320) == "3.20× smaller than" and size_vs(105, 100) == "1.05× larger than"
    assert size_vs(5, 500) == "100.0× smaller than" and size_vs(7, 7) == "the same size as"


def test_default_folder_is_named_after_the_artifact():
    assert re.fullmatch(r"runs/bench-export-\d{8}-\d{6}", str(default_out("bench", ["runs/qs/export"])))
    assert re.fullmatch(r"runs/bench-export-\d{8}-\d{6}", str(default_out("bench", ["runs/qs/export/model.onnx"])))
    assert re.fullmatch(r"runs/prune-lenet-\d{8}-\d{6}", str(default_out("prune", "runs/lenet")))
    assert re.fullmatch(r"runs/profile-timm-resnet18-\d{8}-\d{6}", str(default_out("profile", "timm:resnet18")))
