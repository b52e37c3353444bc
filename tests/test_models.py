"""Every registered model: the contract, shapes, finiteness, parameter counts, ONNX export in onnxruntime."""

import re

import numpy as np
import pytest
import torch
from torch import nn

from edgevision.deploy.onnx import export_onnx, ort_session, parity
from edgevision.models import MODELS, ArchSpec, build_from_spec, build_model, count_params, get_arch
from edgevision.models.base import set_arch
from edgevision.models.complexity import count_macs
from edgevision.models.modspec import module_from_spec, module_to_spec

# Small inputs keep the suite fast; fixed-size models (LeNets, MLP, localizer) use their native size. Segmentation
# nets need H, W divisible by their stride / resolution multiplier (64 for FastLinkNet).
SMALL = {"squeezenet1_0": (3, 64, 64), "squeezenet1_1": (3, 64, 64), "mobilenet_v1": (3, 64, 64),
         "resnet": (3, 64, 64), "resnet18": (3, 64, 64), "squeezedet": (3, 64, 64), "squeezedet_small": (3, 64, 64),
         "squeezedet_mobilenet": (3, 64, 64)}


def _shape(name):
    if name in SMALL:
        return SMALL[name]
    return (3, 64, 64) if _task(name) == "segmentation" else MODELS.entry(name).meta["default_input"]


def _task(name):
    return MODELS.entry(name).meta.get("task", "classification")


def check_output(name, model, y, batch, num_classes):
    """The output contract of the model's task (registry meta ``task``, default classification)."""
    task = MODELS.entry(name).meta.get("task", "classification")
    if task in ("classification", "face"):  # face: identity logits (cosine × scale)
        assert y.shape == (batch, num_classes)
    elif task == "localization":  # 4 box logits + class logits
        assert y.shape == (batch, 4 + num_classes)
    elif task == "segmentation":  # per-pixel logits at the input's size
        assert y.shape == (batch, num_classes, *_shape(name)[1:])
    elif task == "detection" and MODELS.entry(name).meta.get("head") == "points":  # (B, N, 4(R + 1) + C)
        n = sum((s // st) ** 2 for s, st in zip([_shape(name)[1]] * 3, model.strides))
        assert y.shape == (batch, n, 4 * (model.reg_max + 1) + num_classes)
    elif task == "detection":  # a ConvDet grid: K·(4 + 1 + C) channels per cell
        assert y.ndim == 4 and y.shape[:2] == (batch, model.num_anchors * (5 + num_classes)) and y.shape[2] > 0
    else:
        raise AssertionError(f"{name}: no output check for task {task!r}")


@pytest.mark.parametrize("name", MODELS.names())
def test_contract_shape_and_finite(name):
    torch.manual_seed(0)
    m = build_model(name, num_classes=7).eval()
    x = torch.randn(2, *_shape(name))
    with torch.no_grad():
        y = m(x)
        feats = m.forward_features(x)
        y2 = m.forward_head(feats)
    check_output(name, m, y, 2, 7)
    assert torch.isfinite(y).all()
    assert torch.allclose(y, y2)


@pytest.mark.parametrize("name,expected", [("lenet300_100", 266_610), ("lenet5", 431_080),
                                           ("squeezenet1_0", 1_248_424), ("squeezenet1_1", 1_235_496),
                                           ("resnet18", 11_689_512), ("mobilenet_v1", 4_231_976)])
def test_reference_param_counts(name, expected):
    n_classes = 10 if name.startswith("lenet") else 1000
    assert count_params(build_model(name, num_classes=n_classes)) == expected


def test_knobs_change_size():
    assert count_params(build_model("squeezenet1_1", width_mult=0.5)) < count_params(build_model("squeezenet1_1"))
    assert count_params(build_model("mobilenet_v1", width_mult=0.5)) < count_params(build_model("mobilenet_v1"))
    small = build_model("student_cnn", width=8, depth=2)
    big = build_model("student_cnn", width=32, depth=4)
    assert count_params(small) < count_params(big)
    mlp = build_model("hinton_mlp", hidden=[800, 800], dropout=0.0)
    assert count_params(mlp) == 784 * 800 + 800 + 800 * 800 + 800 + 800 * 10 + 10


def test_leaky_option_is_used():
    m = build_model("squeezenet1_1", leaky=0.1)
    assert any(isinstance(x, nn.LeakyReLU) for x in m.modules())
    assert not any(isinstance(x, nn.ReLU) for x in m.modules())


def test_leaky_true_means_the_default_slope_not_the_identity():
    slopes = {x.negative_slope for x in build_model("squeezenet1_1", leaky=True).modules()
              if isinstance(x, nn.LeakyReLU)}
    assert slopes == {0.1}
    assert not any(isinstance(x, nn.LeakyReLU) for x in build_model("squeezenet1_1", leaky=False).modules())


def test_macs_known_values():
    # conv1 of LeNet-5: 20 filters × 5×5 × 24×24 outputs = 288,000 MACs; total matches a hand count.
    m = build_model("lenet5")
    per = count_macs(m, (1, 28, 28), per_module=True)
    assert per["conv1"] == 20 * 25 * 24 * 24
    assert per["conv2"] == 50 * 20 * 25 * 8 * 8
    assert count_macs(m, (1, 28, 28)) == 288_000 + 1_600_000 + 800 * 500 + 500 * 10
    assert count_macs(build_model("lenet300_100"), (1, 28, 28)) == 784 * 300 + 300 * 100 + 100 * 10


@pytest.mark.parametrize("name", MODELS.names())
def test_onnx_export_runs_in_onnxruntime(name, tmp_path):
    torch.manual_seed(0)
    m = build_model(name, num_classes=5).eval()
    shape = _shape(name)
    path = export_onnx(m, tmp_path / f"{name}.onnx", shape)
    sess = ort_session(path, threads=1)
    assert parity(m, sess, shape, batch=2) < 1e-4
    out = sess.run(None, {"input": np.random.rand(3, *shape).astype(np.float32)})[0]  # dynamic batch
    check_output(name, m, torch.from_numpy(out), 3, 5)


def test_spec_roundtrip_with_surgery():
    m = build_model("student_cnn", width=8, depth=2, num_classes=3)
    new_fc = nn.Linear(16, 3)
    m.head.fc = new_fc
    arch = get_arch(m).with_surgery("head.fc", module_to_spec(new_fc))
    set_arch(m, arch)
    rebuilt = build_from_spec(ArchSpec.from_dict(arch.to_dict()))
    rebuilt.load_state_dict(m.state_dict())
    x = torch.randn(2, 3, 24, 24)
    assert torch.equal(rebuilt.eval()(x), m.eval()(x))


@pytest.mark.parametrize("mod", [nn.Conv2d(4, 8, (3, 1), stride=2, padding=(1, 0), groups=2, bias=False),
                                 nn.ConvTranspose2d(8, 4, 3, 2, 1, output_padding=1), nn.Linear(5, 6),
                                 nn.BatchNorm2d(7), nn.PReLU(3), nn.Sequential(nn.Linear(4, 2), nn.ReLU())])
def test_module_spec_roundtrip(mod):
    rebuilt = module_from_spec(module_to_spec(mod))
    assert type(rebuilt) is type(mod)
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {k: v.shape for k, v in mod.state_dict().items()}
    assert module_to_spec(rebuilt) == module_to_spec(mod)


@pytest.mark.parametrize("kwargs", [{}, {"bn": True}, {"leaky": 0.1}])
def test_squeezenet_init_keeps_the_signal_alive(kwargs):
    # He init (Var W = 2 / fan_in) keeps the activations' scale through the 18 convs; PyTorch's default init
    # shrank it to std 0.03 here, every class got the same logits and training on 2 classes stayed at ln 2.
    torch.manual_seed(0)
    m = build_model("squeezenet1_1", num_classes=2, **kwargs).eval()
    x = torch.randn(4, 3, 64, 64)
    assert 0.3 < float(m.features(x).std()) < 10
    final = m.classifier[1]
    assert abs(float(final.weight.std()) - 0.01) < 0.002 and not final.bias.any()
    with torch.no_grad():
        assert float(m(x).std(0).max()) > 1e-3  # the logits depend on the image
    assert any(isinstance(x, nn.BatchNorm2d) for x in m.modules()) == bool(kwargs.get("bn"))


@pytest.mark.parametrize("name, kwargs, message", [
    ("squeezenet1_1", {"bn": "maybe"}, "bn='maybe': expected bool"),  # a truthy string used to build BatchNorm
    ("squeezenet1_1", {"width_mult": "abc"}, "width_mult='abc': expected float"),
    ("hinton_mlp", {"hidden": [800, "a"]}, "hidden=[800, 'a']: expected Sequence[int]"),  # a class registered
])
def test_model_kwargs_are_checked_against_the_constructor_annotations(name, kwargs, message):
    with pytest.raises(TypeError, match=re.escape(message)):
        build_model(name, **kwargs)


def test_well_typed_model_kwargs_pass_unchanged():
    m = build_model("squeezenet1_1", num_classes=2, leaky=True, width_mult=1, bn=True)  # bool for float, int
    assert get_arch(m).kwargs == {"num_classes": 2, "leaky": True, "width_mult": 1, "bn": True}
