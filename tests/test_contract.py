"""The model contract: a plain nn.Module is enough; forward_features when present, else a named layer."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from edgevision.errors import ConfigError
from edgevision.models import ArchSpec, build_model, get_arch
from edgevision.models.base import set_arch
from edgevision.models.contract import features, name_features


class PlainNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(6, 2)

    def forward(self, x):
        return self.fc(self.pool(torch.relu(self.conv(x))).flatten(1))


def test_features_of_a_plain_module_default_to_the_input_of_the_last_linear():
    m = PlainNet().eval()
    x = torch.randn(2, 3, 8, 8)
    want = m.pool(torch.relu(m.conv(x))).flatten(1)
    assert torch.allclose(features(m, x), want)
    assert features(m, x, "conv").shape == (2, 6, 6, 6)
    with pytest.raises(ConfigError, match="feature layer 'nope': the model has no such submodule; it has: conv"):
        features(m, x, "nope")


def test_forward_features_wins_and_a_named_layer_is_recorded_in_the_spec():
    m = build_model("student_cnn", width=4, num_classes=3).eval()
    x = torch.randn(1, 3, 16, 16)
    assert torch.equal(features(m, x), m.forward_features(x))
    name_features(m, "head")
    spec = get_arch(m)
    assert spec.features == "head" and ArchSpec.from_dict(spec.to_dict()) == spec
    assert features(m, x).shape == (1, 3)  # the spec's layer now
    assert "features" not in get_arch(build_model("lenet5")).to_dict()  # unset: the spec dict is as before
    assert get_arch(m).with_surgery("head", {"kind": "x"}).features == "head"


def test_a_model_without_linear_or_forward_features_needs_a_layer():
    m = nn.Sequential(nn.Conv2d(3, 2, 1))
    set_arch(m, ArchSpec("x:y"))
    with pytest.raises(ConfigError, match="name a feature layer"):
        features(m, torch.zeros(1, 3, 4, 4))


def test_face_embeddings_of_a_plain_module_come_from_its_feature_layer(tmp_path):
    import numpy as np

    from edgevision.faces.recognize import FaceRecognizer
    from edgevision.train.objects import save_object

    torch.manual_seed(0)
    path = save_object(PlainNet(), tmp_path / "m.pt", input_size=16, channels=3)
    rec = FaceRecognizer(path)
    crops = np.random.default_rng(0).integers(0, 255, (2, 16, 16), dtype=np.uint8)
    assert rec.embed(crops).shape == (2, 6)  # the input of fc
    named = save_object(PlainNet(), tmp_path / "n.pt", input_size=16, channels=3, feature_layer="conv")
    assert FaceRecognizer(named).embed(crops).shape == (2, 6 * 14 * 14)
