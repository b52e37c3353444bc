"""The Deep Compression verbs end to end on a tiny model: prune → cluster → pack → eval/profile/unpack → report,
plus resume, sensitivity, and bad inputs (one line, exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import edgevision
from conftest import tiny_data
from edgevision.artifacts import load_artifact
from edgevision.cli import main


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    capsys.readouterr()  # only this command's output
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dc") / "train"
    edgevision.train(model="student_cnn", model_kwargs={"width": 8, "depth": 2}, data=tiny_data(n_train=128),
                     epochs=2, batch_size=16, optimizer="adamw", lr=0.01, out=out)
    return out


@pytest.fixture(scope="module")
def pipeline(trained, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pipe")
    assert main(["prune", str(trained), "--sparsity", "features*=0.7,head*=0.5", "--pruning-schedule", "agp",
                 "--epochs", "2", "--batch-size", "16", "--out", str(root / "prune")]) == 0
    assert main(["cluster", str(root / "prune"), "--bits", "4", "--epochs", "1", "--batch-size", "16",
                 "--out", str(root / "cluster")]) == 0
    assert main(["pack", str(root / "cluster"), "--out", str(root / "pack")]) == 0
    return root


def _weights(path) -> dict[str, torch.Tensor]:
    m = load_artifact(path).model
    return {n: mod.weight.detach() for n, mod in m.named_modules() if getattr(mod, "weight", None) is not None
            and mod.weight.ndim >= 2}


def test_prune_reaches_targets_and_records_them(pipeline) -> None:
    card = json.loads((pipeline / "prune" / "card.json").read_text())
    layers = card["sparsity"]["layers"]
    assert all(abs(v - (0.5 if k.startswith("head") else 0.7)) < 0.02 for k, v in layers.items())
    assert card["compress"]["prune"]["schedule"] == "agp" and card["parent"].endswith("model.pt")
    meta = load_artifact(pipeline / "prune").meta
    assert meta["compress"]["prune"]["criterion"] == "layerwise"
    trace = json.loads((pipeline / "prune" / "prune_trace.json").read_text())["events"]
    assert len(trace) > 2 and trace[-1]["sparsity"] > trace[0]["sparsity"]
    hist = json.loads((pipeline / "prune" / "weights_hist.json").read_text())
    first = next(iter(hist["layers"].values()))
    assert first["zeros_after"] > first["zeros_before"] and len(first["edges"]) == len(first["before"]) + 1


def test_cluster_shares_values_and_keeps_zeros(pipeline) -> None:
    pruned, shared = _weights(pipeline / "prune"), _weights(pipeline / "cluster")
    for name, w in shared.items():
        assert torch.equal(w == 0, pruned[name] == 0)  # pruned weights stay zero, survivors stay nonzero
        assert len(w[w != 0].unique()) <= 16
    card = json.loads((pipeline / "cluster" / "card.json").read_text())
    assert set(card["bits"].values()) == {4} and "prune" in card["compress"] and "cluster" in card["compress"]


def test_pack_is_exact_and_accounted(pipeline, tmp_path, capsys) -> None:
    comp = json.loads((pipeline / "pack" / "compression.json").read_text())
    tot = comp["totals"]
    evz = pipeline / "pack" / "model.evz"
    assert comp["verified"] and tot["evz_bytes"] == evz.stat().st_size and tot["compression_rate"] > 2
    assert tot["dense_bytes"] == sum(t.numel() * 4 if t.is_floating_point() else t.numel() * t.element_size()
                                     for t in load_artifact(pipeline / "cluster").model.state_dict().values())
    rows = {r["name"]: r for r in comp["tensors"]}
    assert rows["head.fc.weight"]["nonzeros"] == 32  # 4 classes × 16 features, half pruned
    cluster_sd = load_artifact(pipeline / "cluster").model.state_dict()
    evz_sd = load_artifact(evz).model.state_dict()
    assert all(torch.equal(cluster_sd[k].reshape(-1).view(torch.uint8), evz_sd[k].reshape(-1).view(torch.uint8))
               for k in cluster_sd if cluster_sd[k].dim())
    # eval and profile accept the .evz directly and see the same weights
    assert main(["eval", str(evz), "--out", str(tmp_path / "ev")]) == 0
    got = json.loads((tmp_path / "ev" / "eval.json").read_text())["top1"]
    assert got == json.loads((pipeline / "cluster" / "eval.json").read_text())["top1"]
    code, out, _ = run_cli(capsys, "profile", evz, "--engines", "torch", "--json", "--out", tmp_path / "prof")
    assert code == 0 and json.loads(out)["file_bytes"] == evz.stat().st_size
    assert main(["unpack", str(pipeline / "pack"), "--out", str(tmp_path / "un")]) == 0
    un = load_artifact(tmp_path / "un").model.state_dict()
    assert all(torch.equal(un[k], cluster_sd[k]) for k in cluster_sd)


def test_report_shows_table_and_histograms(pipeline, tmp_path) -> None:
    res = edgevision.report([pipeline], out=tmp_path / "r.html")
    html = Path(res.artifact).read_text()
    assert 'id="compression"' in html and "head.fc.weight" in html and "bits / gap" in html
    assert 'id="weight-histograms"' in html and html.count("<img") >= 3


def test_resume_continues_an_interrupted_prune(trained, tmp_path, monkeypatch) -> None:
    """A run killed after epoch 1 resumes from its checkpoint, masks included, and ends where a full run ends."""
    from edgevision.train.trainer import Trainer

    opts = {"sparsity": 0.6, "pruning_schedule": "iterative", "rounds": 2, "epochs": 2, "batch_size": 16}
    full = edgevision.prune(trained, out=tmp_path / "full", **opts)
    save = Trainer.save_checkpoint

    def save_then_die(self) -> None:
        save(self)
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        edgevision.prune(trained, out=tmp_path / "cut", **opts)
    monkeypatch.setattr(Trainer, "save_checkpoint", save)
    assert not (tmp_path / "cut" / "card.json").exists()
    res = edgevision.prune(trained, out=tmp_path / "cut", resume=True, **opts)
    assert res.card["metrics"]["epochs_run"] == 2
    a, b = load_artifact(full.artifact).model.state_dict(), load_artifact(res.artifact).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_gamma_oneshot_without_finetuning(trained, tmp_path) -> None:
    from edgevision.compress.unstructured.criteria import masks_for_gamma

    res = edgevision.prune(trained, gamma=0.0, criterion="neuronwise", epochs=0, out=tmp_path / "g")
    before, after = _weights(trained), _weights(res.artifact)
    for name, w in before.items():
        keep = masks_for_gamma("neuronwise", {name: w}, 0.0)[name]
        assert torch.equal(after[name] != 0, keep)  # |w| ≤ 0·σ_i + μ_i pruned, nothing else changed
        assert torch.equal(after[name][keep], w[keep])


def test_sensitivity_table_plot_and_proposal(trained, tmp_path, capsys) -> None:
    code, _, _ = run_cli(capsys, "sensitivity", trained, "--keep", "0.5,0.1", "--layers", "head*,features.2*",
                         "--tolerance", "0.05", "--out", tmp_path / "s")
    assert code == 0 and (tmp_path / "s" / "sensitivity.png").stat().st_size > 1000
    res = json.loads((tmp_path / "s" / "sensitivity.json").read_text())
    assert len(res["rows"]) == 2 * 3 * 2 and res["split"] == "val"
    by = {(r["layer"], r["criterion"], r["keep"]): r["metric"] for r in res["rows"]}
    assert all(by[(n, "naive", k)] == by[(n, "layerwise", k)] for n, _, k in by)  # same masks within a layer
    prop = res["proposals"][res["recommended"]]
    assert set(prop["sparsity"]) == set(res["layers"]) and all(s in (0.0, 0.5, 0.9) for s in prop["sparsity"].values())
    html = Path(edgevision.report([tmp_path / "s"], out=tmp_path / "r.html").artifact).read_text()
    assert 'id="sensitivity"' in html and res["recommended"] in html


@pytest.mark.parametrize("argv,needle", [
    (["prune", "{t}", "--sparsity", "1.5"], "sparsity values must be in [0, 1)"),
    (["prune", "{t}", "--sparsity", "fc9=0.5"], "'fc9' matches no selected layer"),
    (["prune", "{t}", "--criterion", "global", "--sparsity", "head*=0.5"], "ranks all layers together"),
    (["prune", "{t}", "--sparsity", "0.5", "--pruning-schedule", "agp", "--set", "keep=best"], "keep 'last'"),
    (["prune", "{t}"], "exactly one of sparsity"),
    (["cluster", "{t}", "--bits", "40"], "bits: must be in [1, 16]"),
    (["unpack", "{t}"], "unpack expects an .evz"),
    (["pack", "{t}", "--gap-bits", "99"], "gap_bits"),
])
def test_bad_inputs_are_one_line_errors(trained, tmp_path, capsys, argv, needle) -> None:
    code, _, err = run_cli(capsys, *[a.format(t=trained) for a in argv], "--out", tmp_path / "x")
    assert code == 2 and needle in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_corrupt_evz_is_a_clean_error(pipeline, tmp_path, capsys) -> None:
    data = bytearray((pipeline / "pack" / "model.evz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad = tmp_path / "bad.evz"
    bad.write_bytes(bytes(data))
    code, _, err = run_cli(capsys, "eval", bad, "--out", tmp_path / "e")
    assert code == 2 and "corrupt" in err and str(bad) in err


@pytest.mark.parametrize("recipe", ["mnist-deep-compression", "quickstart"])
def test_recipes_with_compression_stages_validate(recipe: str) -> None:
    """The benchmark's recipe and the quickstart pass validation of every stage and contain prune → cluster → pack."""
    from edgevision import recipe as rc
    from edgevision.config import load_yaml, validate

    cfg = validate(rc.RecipeConfig, load_yaml(rc.recipe_path(recipe)))
    stages = rc._parse_stages(cfg)
    for k, st in enumerate(stages):
        opts = rc._with_defaults(st, cfg, Path("/tmp/x"), k == 0)
        rc._check_refs(opts, [s.name for s in stages[:k]], st.verb)
        validate(st.spec.config, opts, prefix=st.name)
    verbs = [s.verb for s in stages]
    i = verbs.index("prune")
    assert verbs[i : i + 3] == ["prune", "cluster", "pack"]
