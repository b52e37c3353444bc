"""--weights: plain state dicts (.pt/.pth, .safetensors) into any model, with mismatches reported."""

from __future__ import annotations

import os

import pytest
import torch
from safetensors.torch import save_file

from edgevision.artifacts import load_artifact
from edgevision.cli import main
from edgevision.errors import ArtifactError, ConfigError
from edgevision.models import build_model
from edgevision.models.weights import load_weights, read_state_dict

DATA = ["--data", "synthetic:shapes", "--input-size", "16", "--data.options", "n_train=32", "n_val=8", "n_test=8",
        "num_classes=4"]


@pytest.fixture
def net():
    torch.manual_seed(1)
    return build_model("student_cnn", width=4, num_classes=4)


class _Shell:
    def __reduce__(self):
        return (os.system, ("echo should-never-run",))


def test_state_dict_layouts_load_exactly(net, tmp_path):
    sd = net.state_dict()
    torch.save(sd, tmp_path / "plain.pth")
    torch.save({"epoch": 3, "model_state_dict": sd}, tmp_path / "ckpt.pt")
    torch.save({f"module.{k}": v for k, v in sd.items()}, tmp_path / "dp.pt")
    save_file({k: v.contiguous() for k, v in sd.items()}, str(tmp_path / "w.safetensors"))
    for name in ("plain.pth", "ckpt.pt", "dp.pt", "w.safetensors"):
        fresh = build_model("student_cnn", width=4, num_classes=4)
        report = load_weights(fresh, tmp_path / name)
        assert report.exact and report.loaded == len(sd)
        assert all(torch.equal(fresh.state_dict()[k], v) for k, v in sd.items())


def test_one_mismatched_key_is_reported_and_strict_false_loads_the_rest(net, tmp_path):
    sd = dict(net.state_dict())
    key = next(k for k in sd if k.endswith("weight"))
    sd[key.replace("weight", "kernel")] = sd.pop(key)
    torch.save(sd, tmp_path / "w.pt")
    fresh = build_model("student_cnn", width=4, num_classes=4)
    with pytest.raises(ConfigError, match=rf"1 missing \({key}\), 1 unexpected .*--weights-strict false"):
        load_weights(fresh, tmp_path / "w.pt")
    report = load_weights(fresh, tmp_path / "w.pt", strict=False)
    assert (len(report.missing), len(report.unexpected), report.loaded) == (1, 1, len(sd) - 1)


def test_weights_of_another_architecture_are_refused(tmp_path):
    torch.save(build_model("lenet5").state_dict(), tmp_path / "lenet.pt")
    with pytest.raises(ConfigError, match=r"do not match the model: \d+ tensors loaded; \d+ missing"):
        load_weights(build_model("student_cnn", width=4), tmp_path / "lenet.pt")


def test_files_that_are_not_state_dicts(tmp_path):
    torch.save({"format": 1, "x": _Shell()}, tmp_path / "code.pt")
    (tmp_path / "junk.safetensors").write_bytes(b"not a file")
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(ArtifactError, match=r"not a plain state_dict .*posix\.system"):
        read_state_dict(tmp_path / "code.pt")
    with pytest.raises(ArtifactError, match=r"not a readable \.safetensors file"):
        read_state_dict(tmp_path / "junk.safetensors")
    with pytest.raises(ArtifactError, match="expected a state_dict"):
        read_state_dict(tmp_path / "list.pt")
    with pytest.raises(ArtifactError, match="no such file"):
        read_state_dict(tmp_path / "missing.pt")
    with pytest.raises(ArtifactError, match=r"unsupported suffix '\.npz'"):
        (tmp_path / "w.npz").write_bytes(b"")
        read_state_dict(tmp_path / "w.npz")


def test_train_weights_flag(net, tmp_path, capsys):
    sd = dict(net.state_dict())
    torch.save(sd, tmp_path / "ok.pt")
    out = tmp_path / "t"
    argv = ["train", "--model", "student_cnn", "--model-kwargs", "width=4", *DATA, "--epochs", "1", "--lr", "1e-9",
            "--optimizer", "sgd", "--out"]
    assert main([*argv, str(out), "--weights", str(tmp_path / "ok.pt")]) == 0
    card = load_artifact(out).card
    assert card["weights"]["loaded"] == len(sd) and card["weights"]["missing"] == 0
    imported = tmp_path / "imported"  # --epochs 0: the checkpoint as an artifact, tested, for every other verb
    assert main([*argv[:-6], "0", "--out", str(imported), "--weights", str(tmp_path / "ok.pt")]) == 0
    art = load_artifact(imported)
    assert all(torch.equal(art.model.state_dict()[k], v) for k, v in sd.items()) and "test" in art.card["metrics"]
    sd.pop(next(iter(sd)))
    torch.save(sd, tmp_path / "short.pt")
    capsys.readouterr()
    assert main([*argv, str(tmp_path / "bad"), "--weights", str(tmp_path / "short.pt")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "1 missing" in err and not (tmp_path / "bad").exists()
    assert main([*argv, str(tmp_path / "loose"), "--weights", str(tmp_path / "short.pt"),
                 "--weights-strict", "false"]) == 0
