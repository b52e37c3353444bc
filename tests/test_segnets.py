"""The four segmentation nets of Demborg (2018): sizes and MACs against the doc's Table 5.1, structure,
width and resolution multipliers, and the input-size check."""

import pytest
import torch
from torch import nn

from edgevision.models import build_model, count_params
from edgevision.models.complexity import count_macs
from edgevision.models.segcommon import InputSizeError

NETS = ("enet", "linknet", "mobileseg", "fastlinknet")
# Exact counts at full width, 2 classes, 256² input (MACs: conv/linear multiply-accumulates, see complexity.py).
GOLDEN = {"enet": (359_361, 475_054_080), "linknet": (11_533_442, 2_683_305_984),
          "mobileseg": (4_544_450, 1_299_349_504), "fastlinknet": (1_796_827, 151_306_240)}
# Demborg (2018) Table 5.1: fp32 MB and GFLOPs at 256².
DOC = {"enet": (1.8, 1.11), "linknet": (45, 1.75), "mobileseg": (18, 2.68), "fastlinknet": (7.2, 0.287)}


@pytest.mark.parametrize("name", NETS)
def test_params_and_macs_at_256(name):
    m = build_model(name)
    params, macs = count_params(m), count_macs(m, (3, 256, 256))
    assert (params, macs) == GOLDEN[name]
    mb, gflops = DOC[name]
    # fp32 size: within 25 % of the doc for every net (ENet: 1.44 MB vs 1.8 MB).
    assert abs(params * 4 / 1e6 - mb) / mb < 0.25
    # FLOPs = 2 × MACs matches the doc within 20 % for ENet, MobileSeg and FastLinkNet; the doc's LinkNet figure
    # (1.75) is below what its ResNet-18 encoder alone costs at 256² (2 × 2.37 G), see
    # docs/results/pennfudan_segmentation.md.
    if name != "linknet":
        assert abs(2 * macs / 1e9 - gflops) / gflops < 0.20


@pytest.mark.parametrize("name", NETS)
def test_per_pixel_output_and_multipliers(name):
    torch.manual_seed(0)
    x = torch.randn(2, 3, 64, 64)
    m = build_model(name, num_classes=3).eval()
    with torch.no_grad():
        assert m(x).shape == (2, 3, 64, 64)
    half = build_model(name, num_classes=3, width_mult=0.5)
    assert count_params(half) < 0.3 * count_params(m)  # channels halve → params about quarter
    if name != "fastlinknet":  # FastLinkNet already runs at resolution_mult 0.5
        low = build_model(name, num_classes=3, resolution_mult=0.5).eval()
        with torch.no_grad():
            assert low(x).shape == (2, 3, 64, 64)  # logits upsampled back to the input size
        assert count_macs(low, (3, 128, 128)) < 0.3 * count_macs(m, (3, 128, 128))


@pytest.mark.parametrize("name,size", [("enet", 60), ("linknet", 48), ("fastlinknet", 96)])
def test_input_not_divisible_is_a_clear_error(name, size):
    m = build_model(name).eval()
    with pytest.raises(InputSizeError, match=r"divisible by \d+.*got \d+x\d+"):
        m(torch.zeros(1, 3, size, size))


def test_enet_structure():
    m = build_model("enet")
    convs = [c for c in m.modules() if isinstance(c, nn.Conv2d)]
    assert {c.dilation[0] for c in convs} >= {2, 4, 8, 16}
    assert any(c.kernel_size == (5, 1) for c in convs) and any(c.kernel_size == (1, 5) for c in convs)
    assert sum(isinstance(x, nn.PReLU) for x in m.modules()) > 20
    assert any(isinstance(x, nn.Dropout2d) for x in m.modules())  # spatial dropout
    assert not any("Unpool" in type(x).__name__ for x in m.modules())  # replaced as the doc did (cv2.dnn lacks it)
    assert m.initial.conv.out_channels == 13 and m.stage2[2].branch[3][0].kernel_size == (5, 1)


def test_linknet_decoder_block_layout():
    m = build_model("linknet")
    d4 = m.decoders[3]  # 512 → 256, ×2
    c1, up, c2 = d4[0][0], d4[1][0], d4[2][0]
    assert (c1.in_channels, c1.out_channels, c1.kernel_size) == (512, 128, (1, 1))
    assert isinstance(up, nn.ConvTranspose2d) and up.kernel_size == (3, 3) and up.stride == (2, 2)
    assert (c2.in_channels, c2.out_channels, c2.kernel_size) == (128, 256, (1, 1))
    x = torch.zeros(1, 512, 4, 4)
    assert d4(x).shape == (1, 256, 8, 8)  # then added to the 256-channel encoder map of the same size


def test_mobileseg_uses_mobilenet_encoder():
    m = build_model("mobileseg")
    assert m.encoder.channels == [128, 256, 512, 1024]
    assert sum(isinstance(c, nn.Conv2d) and c.groups > 1 for c in m.encoder.modules()) == 13


def test_fastlinknet_encoder_is_separable_and_halves_the_input():
    m = build_model("fastlinknet")
    full = [c for c in m.encoder.modules() if isinstance(c, nn.Conv2d) and c.kernel_size[0] > 1 and c.groups == 1]
    assert full == []  # every spatial conv of the encoder is depthwise
    assert m.resolution_mult == 0.5
    lk = build_model("linknet")
    assert count_params(m) < count_params(lk) / 6  # the doc: "approximately a factor 4" (45 → 7.2 MB)
