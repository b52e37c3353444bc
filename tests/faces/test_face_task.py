"""CosFace / ArcFace margins and the face_cnn model."""

from __future__ import annotations

import math

import pytest
import torch

from edgevision.models import build_model
from edgevision.tasks.face import FaceTask, margin_logits


def test_cosface_and_arcface_move_only_the_target_logit():
    s = 10.0
    cos = torch.tensor([[0.5, 0.2, -0.1], [0.0, 0.9, 0.3]])
    y = torch.tensor([0, 1])
    cf = margin_logits(cos * s, y, "cosface", 0.35, s)
    assert torch.allclose(cf, torch.tensor([[1.5, 2.0, -1.0], [0.0, 5.5, 3.0]]), atol=1e-5)
    af = margin_logits(cos * s, y, "arcface", 0.5, s)
    assert af[0, 0] == pytest.approx(s * math.cos(math.acos(0.5) + 0.5), abs=1e-4)
    assert af[1, 1] == pytest.approx(s * math.cos(math.acos(0.9) + 0.5), abs=1e-4)
    assert torch.equal(af[0, 1:], cos[0, 1:] * s)
    assert torch.equal(margin_logits(cos, y, "none", 0.35, s), cos)
    # past θ + m > π ArcFace stays monotonic (CosFace-style penalty) instead of wrapping around
    far = margin_logits(torch.tensor([[-0.99 * s, 0.0]]), torch.tensor([0]), "arcface", 0.5, s)
    assert far[0, 0] < -0.99 * s


def test_face_task_loss_uses_the_margin_only_when_training():
    task = FaceTask(["a", "b"], margin=0.35, scale=10.0)
    out = torch.tensor([[5.0, 1.0]])
    batch = {"label": torch.tensor([0])}
    with torch.no_grad():
        plain = task.loss(out, batch)
    with torch.enable_grad():
        margined = task.loss(out, batch)
    assert margined > plain
    assert task.to_dict()["margin_type"] == "cosface"
    with pytest.raises(ValueError, match="margin_type"):
        FaceTask(["a"], margin_type="sphere")


@pytest.mark.parametrize("size", [16, 48, 112])
def test_face_cnn_any_input_size_and_unit_embeddings(size):
    m = build_model("face_cnn", num_classes=7, widths=[4, 8, 8, 8], embed_dim=16, input_size=size).eval()
    x = torch.randn(2, 1, size, size)
    with torch.no_grad():
        assert m(x).shape == (2, 7)
        e = m.embed(x)
    assert e.shape == (2, 16) and torch.allclose(e.norm(dim=1), torch.ones(2), atol=1e-5)
    assert isinstance(m.head, torch.nn.Linear)  # pruning/packing/export see a Linear
    with torch.no_grad():
        assert m(x).abs().max() <= 30.0 + 1e-4  # cosine logits are bounded by the scale


def test_mean_image_is_fitted_from_training_images_and_exported(tmp_path):
    """Björgvinsdóttir & Seibold's (2016) per-pixel mean image: set from the training split by `train`, subtracted
    inside the network."""
    import numpy as np
    import torch

    import edgevision as ev
    from conftest import tiny_data
    from edgevision.deploy.onnx import export_onnx, ort_session

    data = tiny_data(n_train=64, size=16, classes=3)
    res = ev.train(model="face_cnn", task="face", model_kwargs={"mean_image": True, "widths": [4, 8], "embed_dim": 8},
                   data=data, epochs=1, batch_size=32, out=tmp_path / "t")
    art = ev.load_artifact(res.artifact)
    m = art.model.eval()
    from edgevision.data import DataConfig, load_data

    splits = load_data(DataConfig(**data), "classification")
    mu = torch.tensor(art.preprocess["mean"]).view(-1, 1, 1)
    sd = torch.tensor(art.preprocess["std"]).view(-1, 1, 1)
    expected = (splits.train.images.float().mean(0) / 255 - mu) / sd
    torch.testing.assert_close(m.pixel_mean, expected, atol=1e-5, rtol=1e-5)  # saved with the model
    assert m.pixel_mean.abs().sum() > 0
    x = torch.randn(2, *art.input_shape)
    with torch.no_grad():
        ref = m(x).numpy()
    path = export_onnx(m, tmp_path / "f.onnx", art.input_shape)
    assert np.abs(ort_session(path).run(None, {"input": x.numpy()})[0] - ref).max() < 1e-4
    assert ev.build_model("face_cnn", input_size=16).pixel_mean is None  # off by default
