"""The foreign architectures of the zoo tests: 10 timm families and 5 torchvision models, built without weights.

timm and torchvision import only in the zoo venv (`make install-zoo`: torch 2.14.1 with torchvision 0.29.1); in
the default venv :func:`require_zoo` skips with that reason.
"""

from __future__ import annotations

import importlib.util

import pytest

TIMM = ("mobilenetv3_small_050", "efficientnet_b0", "resnet10t", "regnetx_002", "ghostnet_050", "rexnet_100",
        "mnasnet_050", "lcnet_050", "mixnet_s", "tinynet_e")
TORCHVISION = ("mobilenet_v2", "mobilenet_v3_small", "shufflenet_v2_x0_5", "squeezenet1_1", "resnet18")
ZOO = [f"timm:{n}" for n in TIMM] + [f"torchvision:{n}" for n in TORCHVISION]


def require_zoo() -> None:
    """Skip unless timm and torchvision import (they need the zoo venv's torch)."""
    for lib in ("timm", "torchvision"):
        if importlib.util.find_spec(lib) is None:
            pytest.skip(f"{lib} is not installed: the zoo tests run in the zoo venv (`make test-zoo`)")
    try:
        import timm  # noqa: F401
        import torchvision  # noqa: F401
    except Exception as e:  # torchvision built for another torch: "operator torchvision::nms does not exist"
        pytest.skip(f"timm/torchvision do not import beside this torch ({str(e).splitlines()[0][:120]}); use the "
                    f"zoo venv (`make test-zoo`)")


def build(ref: str, num_classes: int):
    """A zoo architecture with random weights (seeded), in eval mode."""
    import torch

    lib, name = ref.split(":", 1)
    torch.manual_seed(0)
    if lib == "timm":
        import timm

        model = timm.create_model(name, pretrained=False, num_classes=num_classes)
    else:
        import torchvision

        model = torchvision.models.get_model(name, weights=None, num_classes=num_classes)
    return model.eval()
