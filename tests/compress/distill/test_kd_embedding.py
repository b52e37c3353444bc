"""Embedding distillation: the task's loss parts and projection, and the distill stage with an embedding teacher."""

from __future__ import annotations

import json

import pytest
import torch

import edgevision
from conftest import tiny_data
from edgevision.compress.distill import stage as distill_stage
from edgevision.compress.distill.embedding import EmbeddingDistillTask
from edgevision.compress.distill.teacher import Teacher
from edgevision.configs.distill import KDConfig
from edgevision.errors import ConfigError
from edgevision.models import build_model
from edgevision.tasks.face import FaceTask


class RandomEmbedder(Teacher):
    """A fixed random linear map of the pixels to 24-d: a stand-in for dlib-face."""

    kind, embedding_dim, name = "embedding", 24, "random-embedder"

    def __init__(self) -> None:
        self.w = torch.randn(3 * 24 * 24, 24, generator=torch.Generator().manual_seed(0))

    def logits(self, x01: torch.Tensor) -> torch.Tensor:
        x = torch.nn.functional.interpolate(x01.expand(-1, 3, -1, -1), size=(24, 24))
        return torch.nn.functional.normalize(x.flatten(1) @ self.w, dim=1)

    def fingerprint(self) -> str:
        return "random-embedder:0"

    def size_bytes(self) -> int:
        return self.w.numel() * 4


def _task(alpha: float = 1.0, student_dim: int = 16) -> EmbeddingDistillTask:
    teacher = RandomEmbedder()
    return EmbeddingDistillTask(FaceTask(list("abcd")), lambda b: teacher.logits(b["image"].clamp(0, 1)),
                                KDConfig(alpha=alpha), student_dim, 24)


def test_step_trains_student_and_projection_then_drops_it():
    task = _task(alpha=0.5)
    model = build_model("face_cnn", num_classes=4, in_channels=3, input_size=24, embed_dim=16,
                        widths=(4, 8, 8, 8)).train()
    batch = {"image": torch.rand(6, 3, 24, 24), "label": torch.tensor([0, 1, 2, 3, 0, 1]), "id": torch.arange(6)}
    out = task.step(model, batch)
    assert {"loss_soft", "loss_kd_rkd", "loss_hard"} <= set(out)
    expected = 0.5 * (out["loss_soft"] + out["loss_kd_rkd"]) + 0.5 * out["loss_hard"]
    assert out["loss"].item() == pytest.approx(expected.item(), rel=1e-6)
    out["loss"].backward()
    assert task.trainable() is task.proj and task.proj.weight.grad.abs().sum() > 0
    assert model.fc.weight.grad.abs().sum() > 0
    assert 0 < out["loss_soft"].item() <= 2
    model.eval()
    assert set(task.step(model, batch)) == {"loss", "output"}  # evaluation is the base task's


def test_same_size_needs_no_projection():
    assert _task(student_dim=24).trainable() is None


def test_distill_stage_with_embedding_teacher(tmp_path, monkeypatch):
    monkeypatch.setattr(distill_stage, "build_teacher", lambda *a, **k: RandomEmbedder())
    res = edgevision.distill("random-embedder", out=tmp_path / "d", student="face_cnn", task="face",
                             student_kwargs={"embed_dim": 16, "widths": [4, 8, 8, 8]},
                             data=tiny_data(n_train=48, size=24), mode="offline", cache_dir=str(tmp_path / "c"),
                             epochs=2, batch_size=16, alpha=1.0, keep="last")
    hist = [json.loads(line) for line in (res.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert {"train_loss_soft", "train_loss_kd_rkd"} <= set(hist[0]) and "train_loss_hard" not in hist[0]
    assert hist[-1]["train_loss_soft"] < hist[0]["train_loss_soft"]
    sd = torch.load(res.run_dir / "model.pt", weights_only=True)
    assert not any("proj" in k for k in json.dumps(list(sd.get("state_dict", sd))).split('"'))
    assert res.card["teacher"]["kind"] == "embedding"
    with pytest.raises(ConfigError, match="embedding"):
        edgevision.distill("random-embedder", out=tmp_path / "e", student="face_cnn", task="face",
                           data=tiny_data(n_train=48, size=24), epochs=1, objective="kl+bce")
