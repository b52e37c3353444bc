"""Structured pruning on every registered model: shapes, MACs, reload from spec, export; policies and the stage."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from nets import Coupled
from test_depgraph import zero_units

from edgevision.compress.structured.depgraph import build_graph
from edgevision.compress.structured.shrink import shrink_model
from edgevision.errors import ConfigError, EdgevisionError
from edgevision.models import MODELS, build_from_spec, build_model, default_input, get_arch

FIXED = {"lenet5", "lenet300_100", "hinton_mlp", "localizer", "face_cnn"}  # input size is part of the architecture
NO_CV2 = {"face_cnn"}  # OpenCV 4.x dnn cannot run the L2 normalization of its cosine head (ONNX Runtime can)


def small_shape(name: str) -> tuple[int, ...]:
    c, h, w = default_input(name)
    side = 64 if MODELS.entry(name).meta.get("task") == "segmentation" else 32  # FastLinkNet needs multiples of 64
    return (c, h, w) if name in FIXED else (c, min(h, side), min(w, side))


def tiny_model(name: str):
    kw = {"num_classes": 7}
    if name in ("resnet", "resnet18"):
        kw["width_mult"] = 0.25
    if name == "mobilenet_v1":
        kw["width_mult"] = 0.25
    if name == "hinton_mlp":
        kw["hidden"] = (64, 48)
    torch.manual_seed(0)
    return build_model(name, **kw).eval()


@pytest.mark.parametrize("name", MODELS.names())
def test_shrink_every_registered_model(name, tmp_path):
    from edgevision.deploy.export import cv2_compatible, cv2_outputs
    from edgevision.deploy.onnx import export_onnx, ort_session

    model, shape = tiny_model(name), small_shape(name)
    pruned, info = shrink_model(model, shape, macs=0.5, round_to=1)
    x = torch.randn(2, *shape)
    with torch.no_grad():
        assert pruned(x).shape == model(x).shape
    cut = 1 - info.macs_after / info.macs_before
    assert 0.5 <= cut <= 0.6, f"asked for 50 % of MACs, removed {cut:.1%}"
    assert info.params_after < info.params_before
    rebuilt = build_from_spec(get_arch(pruned))  # without the original model
    rebuilt.load_state_dict(pruned.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(rebuilt.eval()(x), pruned.eval()(x))
    path = export_onnx(pruned, tmp_path / "p.onnx", shape)
    cv2_compatible(path)
    with torch.no_grad():
        ref = pruned(x).numpy()
    assert np.abs(ort_session(path).run(None, {"input": x.numpy()})[0] - ref).max() < 1e-4
    if name in NO_CV2:
        return
    out, err = cv2_outputs(path, x.numpy())  # OpenCV's dnn runs the pruned model too
    assert err is None and np.abs(out - ref).max() < 1e-4, err


@pytest.mark.parametrize("name", MODELS.names())
def test_pruning_equals_zeroing_on_every_registered_model(name):
    """Removing channels whose producers output exact zeros must not change the output at all."""
    model, shape = tiny_model(name), small_shape(name)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2)
    graph = build_graph(model, shape)
    assert graph.groups, f"{name}: nothing prunable"
    plan = {g.name: list(range(0, len(g), 2)) for g in graph.groups}
    zero_units(model, graph, plan)
    x = torch.randn(2, *shape)
    from edgevision.compress.structured.shrink import apply_plan

    with torch.no_grad():
        want = model(x)
        apply_plan(graph, plan)
        torch.testing.assert_close(model(x), want, atol=1e-4, rtol=1e-4)


def test_round_to_gives_simd_friendly_widths():
    model = build_model("squeezenet1_1", num_classes=10)
    pruned, info = shrink_model(model, (3, 48, 48), ratio=0.4, round_to=8)
    for g in info.groups:
        assert g["after"] % 8 == 0 or g["after"] == g["before"], g
    assert any(g["after"] < g["before"] for g in info.groups)
    assert pruned.features[3].squeeze.out_channels % 8 == 0


@pytest.mark.parametrize("importance", ["l1", "l2", "bn_scale", "taylor"])
@pytest.mark.parametrize("scope", ["uniform", "global"])
def test_importance_criteria_and_scopes(importance, scope):
    model = Coupled().eval()
    ctx = {}
    if importance == "taylor":
        batches = [{"x": torch.randn(4, 3, 16, 16), "y": torch.randint(0, 5, (4,))} for _ in range(2)]
        ctx = {"batches": batches,
               "bind": lambda m: (lambda b: torch.nn.functional.cross_entropy(m(b["x"]), b["y"]))}
    pruned, info = shrink_model(model, (3, 16, 16), ratio=0.5, importance=importance, scope=scope, **ctx)
    assert info.macs_after < info.macs_before
    assert pruned(torch.randn(1, 3, 16, 16)).shape == (1, 5)
    assert model.post.out_channels == 12  # the original is untouched


def test_lowest_scores_are_removed():
    model = Coupled().eval()
    with torch.no_grad():
        model.branch_a.weight[:4].mul_(1e-3)  # the four weakest filters of branch_a
    graph = build_graph(model, (3, 16, 16))
    grp = next(g for g in graph.groups if g.name == "branch_a")
    from edgevision.compress.structured.importance import score

    s = score("l1", graph)[grp.name]
    assert set(torch.argsort(s)[:4].tolist()) == {0, 1, 2, 3}


def test_policy_errors():
    model = build_model("lenet300_100")
    with pytest.raises(ConfigError):
        shrink_model(model, (1, 28, 28), ratio=0.5, macs=0.5)
    with pytest.raises(EdgevisionError, match="cannot remove"):
        shrink_model(model, (1, 28, 28), macs=0.99, max_ratio=0.5)


def test_shrink_stage_prunes_finetunes_and_reloads(trained, tmp_path):
    import edgevision as ev

    res = ev.shrink(trained, macs=0.4, round_to=4, epochs=1, out=tmp_path / "shrink")
    card = res.card
    assert card["shrink"]["macs_reduction"] >= 0.4 and card["params"] < ev.load_artifact(trained).card["params"]
    art = ev.load_artifact(res.artifact)  # rebuilt from the spec alone
    assert art.arch.surgery and art.model(torch.randn(1, *art.input_shape)).shape[1] == 3
    assert (res.run_dir / "shrink.json").exists() and "drop_points" in card["metrics"]


@pytest.mark.parametrize("verb", ["shrink", "lowrank", "prune", "quantize"])
def test_distill_option_trains_on_the_teacher(verb, trained, tmp_path):
    """``distill`` in a compression stage: one epoch of fine-tuning against the unchanged model, and the soft loss
    (T²·KL to the teacher) is logged per epoch in metrics.jsonl."""
    import json

    import edgevision as ev

    opts = {"shrink": {"ratio": 0.25}, "lowrank": {"method": "dwsep", "min_saving": 0.01},
            "prune": {"sparsity": 0.5}, "quantize": {"qat": "on"}}[verb]
    res = getattr(ev, verb)(trained, epochs=1, distill={"temperature": 4, "alpha": 0.7}, out=tmp_path / verb, **opts)
    rows = [json.loads(line) for line in (res.run_dir / "metrics.jsonl").read_text().splitlines()]
    soft = [r[k] for r in rows for k in r if k.endswith("loss_soft")]
    assert soft and all(v > 0 for v in soft)
    m = json.loads((res.run_dir / "quantize.json").read_text())["qat"] if verb == "quantize" else res.card["metrics"]
    assert m["distill"]["alpha"] == 0.7


def test_distill_option_is_validated(trained, tmp_path):
    import edgevision as ev

    with pytest.raises(ConfigError, match=r"distill\.alpha"):
        ev.shrink(trained, ratio=0.25, epochs=1, distill={"alpha": 2}, out=tmp_path / "kd")
    assert not (tmp_path / "kd").exists()


def test_a_result_far_from_its_target_says_why():
    """LeNet-5 at round_to=16 overshoots a 50 % MACs target (69 %): the note names round_to and what 1 would do."""
    _, info = shrink_model(build_model("lenet5"), (1, 28, 28), macs=0.5, round_to=16)
    assert info.to_dict()["macs_reduction"] > 0.6
    assert "for a target of 50%" in info.note and "round_to=16" in info.note and "round_to=1 would remove" in info.note
    _, close = shrink_model(build_model("lenet5"), (1, 28, 28), macs=0.5, round_to=1)
    assert abs(close.to_dict()["macs_reduction"] - 0.5) < 0.03 and close.note == ""
    assert info.to_dict()["note"] == info.note  # travels into shrink.json


def test_an_unreachable_macs_target_names_the_knob_and_the_best_value():
    with pytest.raises(EdgevisionError) as e:
        shrink_model(build_model("resnet8"), (3, 32, 32), macs=0.5, round_to=16)
    msg = str(e.value)
    assert "round_to=16" in msg and "round_to=1 reaches it" in msg and "--macs 0.4" in msg
    with pytest.raises(EdgevisionError, match=r"max_ratio=0\.99 reaches it"):
        shrink_model(build_model("lenet300_100"), (1, 28, 28), macs=0.99, max_ratio=0.5)
