"""``pretrained=true`` on timm / torchvision references: weights from the libraries' caches only, one line when
they are not there, and artifacts that reload without the cache."""

from __future__ import annotations

import pytest
import torch
from zoo_nets import require_zoo

from edgevision.artifacts import load_artifact, save_model
from edgevision.errors import ConfigError
from edgevision.models import build_model

pytestmark = pytest.mark.zoo


@pytest.fixture(autouse=True)
def _zoo():
    require_zoo()


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """An empty torch hub and Hugging Face cache: nothing on this machine, and no network."""
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "torch_hub"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    return tmp_path / "torch_hub"


def test_missing_weights_are_one_line(hub):
    with pytest.raises(ConfigError, match=r"torchvision:squeezenet1_1.*not in this machine's torch hub cache "
                                          r"\(.*torch_hub/checkpoints/squeezenet1_1-.*\.pth\); nothing is downloaded"):
        build_model("torchvision:squeezenet1_1", num_classes=4, pretrained=True)
    with pytest.raises(ConfigError, match=r"timm:resnet10t.*not in this machine's Hugging Face cache"):
        build_model("timm:resnet10t", num_classes=4, pretrained=True)


def test_cached_torchvision_weights_load_and_the_artifact_reloads_without_them(hub, tmp_path):
    import torchvision

    from edgevision.models.pretrained import checkpoint_path

    path, _ = checkpoint_path(torchvision.models, "squeezenet1_1")
    path.parent.mkdir(parents=True)
    torch.manual_seed(1)
    cached = torchvision.models.get_model("squeezenet1_1", weights=None).state_dict()  # 1000 classes
    torch.save(cached, path)
    model = build_model("torchvision:squeezenet1_1", num_classes=4, pretrained=True)
    own = model.state_dict()
    assert torch.equal(own["features.0.weight"], cached["features.0.weight"])  # the trunk is the cache's
    assert own["classifier.1.weight"].shape[0] == 4  # a fresh head for 4 classes
    art = save_model(tmp_path / "m.pt", model, task={"name": "classification", "class_names": list("abcd")},
                     preprocess={"input_size": [64, 64], "channels": 3, "mean": [0.5] * 3, "std": [0.25] * 3})
    path.unlink()  # the cache is gone: the artifact holds the weights
    again = load_artifact(art).model
    assert torch.equal(again.state_dict()["features.0.weight"], cached["features.0.weight"])
