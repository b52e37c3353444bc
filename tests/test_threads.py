"""``threads`` means one thing on every verb that computes: torch's intra-op and OpenCV's threads for the stage."""

from __future__ import annotations

import json

import cv2
import pytest
import torch

from conftest import tiny_data
from edgevision.cli import main
from edgevision.stages import STAGES
from edgevision.train.trainer import Trainer

COMPUTING = {"train", "distill", "prune", "cluster", "shrink", "lowrank", "quantize", "eval", "predict",
             "sensitivity", "export", "faces_enroll", "faces_eval", "profile", "bench", "demo", "search"}


@pytest.mark.parametrize("name", sorted(COMPUTING))
def test_every_computing_stage_has_threads(name):
    field = STAGES.get(name).config.model_fields.get("threads")
    assert field is not None and field.description, name


def test_train_threads_apply_inside_the_stage_and_are_restored(tmp_path, monkeypatch, capsys):
    seen = []
    fit = Trainer.fit

    def spy(self, *a, **k):
        seen.append((torch.get_num_threads(), cv2.getNumThreads()))
        return fit(self, *a, **k)

    monkeypatch.setattr(Trainer, "fit", spy)
    before = (torch.get_num_threads(), cv2.getNumThreads())
    argv = ["train", "--model", "student_cnn", "--model-kwargs", "width=8", "depth=2", "--data", "synthetic:shapes",
            "--input-size", "16", "--epochs", "1", "--batch-size", "16", "--threads", "1", "--json",
            "--out", str(tmp_path / "t")]
    for k, v in tiny_data(n_train=32, size=16, classes=2)["options"].items():
        argv += ["--set", f"data.options.{k}={v}"]
    assert main(argv) == 0
    card = json.loads(capsys.readouterr().out)
    assert seen == [(1, 1)] and card["latency"]["threads"] == 1
    assert (torch.get_num_threads(), cv2.getNumThreads()) == before


def test_quantize_latency_threads_follow_threads():
    cfg = STAGES.get("quantize").config
    assert cfg(artifact="x").timing_threads() == 1
    assert cfg(artifact="x", threads=3).timing_threads() == 3
    assert cfg(artifact="x", threads=3, latency_threads=2).timing_threads() == 2
