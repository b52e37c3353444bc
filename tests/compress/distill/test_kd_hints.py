"""Feature hints: layer resolution for any pair of registered models, clear errors, trained adapters."""

from __future__ import annotations

import pytest
import torch

from edgevision.compress.distill.hints import (
    FeatureTap,
    HintConfig,
    HintSet,
    attention_map,
    attention_transfer,
    dry_run_shapes,
)
from edgevision.errors import ConfigError
from edgevision.models import build_model

# (student, student layer, teacher, teacher layer, input): residual adds, fire concatenations, depthwise convs,
# BatchNorm, and MLP vectors paired with conv maps.
PAIRS = [
    ("student_cnn", "features.1", "resnet8", "stages.1", (3, 32, 32)),
    ("squeezenet1_1", "features.4", "mobilenet_v1", "features.4", (3, 64, 64)),
    ("mobilenet_v1", "features.3.1", "resnet14", "stages.0.1", (3, 32, 32)),
    ("hinton_mlp", "features.2", "lenet5", "conv2", (1, 28, 28)),
    ("lenet300_100", "relu1", "hinton_mlp", "features.4", (1, 28, 28)),
]


def _model(name: str, shape: tuple[int, int, int]) -> torch.nn.Module:
    kw = {"num_classes": 5, "in_channels": shape[0]}
    if name in ("hinton_mlp", "lenet300_100", "lenet5"):
        kw["input_size"] = shape[1]
    if name == "hinton_mlp":
        kw["hidden"] = (64, 32)
    if name in ("squeezenet1_1", "mobilenet_v1"):
        kw["width_mult"] = 0.25
    return build_model(name, **kw)


@pytest.mark.parametrize("s_name,s_layer,t_name,t_layer,shape", PAIRS)
def test_fitnet_hints_resolve_and_backprop_for_any_pair(s_name, s_layer, t_name, t_layer, shape):
    torch.manual_seed(0)
    student, teacher = _model(s_name, shape), _model(t_name, shape).eval()
    hs = HintSet(student, teacher, [HintConfig(student=s_layer, teacher=t_layer)], shape, shape)
    x = torch.randn(2, *shape)
    student(x)
    with torch.no_grad():
        teacher(x)
    loss = hs.loss()
    loss.backward()
    assert torch.isfinite(loss) and loss > 0
    adapter = next(iter(hs.adapters.parameters()))
    assert adapter.grad is not None and adapter.grad.abs().sum() > 0
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in student.parameters())
    desc = hs.describe()[0]
    assert desc["student_shape"] and desc["teacher_shape"]
    hs.remove()


def test_attention_transfer_across_channel_counts_and_sizes():
    torch.manual_seed(0)
    student, teacher = _model("student_cnn", (3, 32, 32)), _model("resnet8", (3, 32, 32)).eval()
    hs = HintSet(student, teacher, [HintConfig.model_validate("features.0:stages.1:at")], (3, 32, 32), (3, 32, 32))
    assert hs.describe()[0]["weight"] == 1000.0  # the paper's β
    x = torch.randn(2, 3, 32, 32)
    student(x)
    teacher(x)
    loss = hs.loss()
    loss.backward()
    assert torch.isfinite(loss) and loss > 0
    assert len(hs.adapters) == 0  # attention transfer has no parameters
    # golden: identical maps give 0; the map is unit-norm
    a = torch.randn(2, 4, 5, 5)
    assert attention_transfer(a, a * 3).item() == pytest.approx(0.0, abs=1e-8)
    assert torch.allclose(attention_map(a).norm(dim=1), torch.ones(2))


def test_hint_text_parsing():
    h = HintConfig.model_validate("features.1:stages.0.conv1:fitnet:0.5")
    assert (h.student, h.teacher, h.kind, h.resolved_weight) == ("features.1", "stages.0.conv1", "fitnet", 0.5)
    with pytest.raises(ValueError, match=r"expected 'student.layer:teacher.layer"):
        HintConfig.model_validate("features.1")


def test_bad_layer_names_list_valid_names():
    student, teacher = _model("student_cnn", (3, 32, 32)), _model("resnet8", (3, 32, 32))
    with pytest.raises(ConfigError) as e:
        HintSet(student, teacher, [HintConfig(student="featurs.1", teacher="stages.1")], (3, 32, 32), (3, 32, 32))
    msg = str(e.value)
    assert "student layer 'featurs.1' not found" in msg and "did you mean: features.1" in msg
    assert "features.0.0" in msg and "\n" not in msg
    with pytest.raises(ConfigError, match=r"teacher layer 'nope' not found.*stages.0.0.conv1"):
        HintSet(student, teacher, [HintConfig(student="features.1", teacher="nope")], (3, 32, 32), (3, 32, 32))


def test_attention_transfer_rejects_vectors():
    student, teacher = _model("hinton_mlp", (1, 28, 28)), _model("lenet5", (1, 28, 28))
    with pytest.raises(ConfigError, match="attention transfer"):
        HintSet(student, teacher, [HintConfig(student="features.2", teacher="conv2", kind="at")], (1, 28, 28),
                (1, 28, 28))


def test_tap_clones_before_inplace_relu():
    m = _model("student_cnn", (3, 32, 32)).eval()
    tap = FeatureTap(m, ["features.0.1"], "student")  # the BatchNorm before an in-place ReLU
    with torch.no_grad():
        m(torch.randn(2, 3, 32, 32))
    assert (tap.out["features.0.1"] < 0).any()  # not overwritten by the ReLU
    tap.remove()
    shapes = dry_run_shapes(m, ["features.0", "head"], (3, 32, 32), "student")
    assert shapes == {"features.0": (16, 32, 32), "head": (5,)}
