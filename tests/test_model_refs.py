"""Model references (registry name, module:callable, file.py:callable, timm:/torchvision:) and their errors."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap

import pytest
import torch

from edgevision.artifacts import load_artifact, save_model
from edgevision.cli import main
from edgevision.cli.flags import parse_pairs
from edgevision.errors import ConfigError
from edgevision.models import build_from_spec, build_model, get_arch
from edgevision.models.base import resolve

NET = textwrap.dedent('''
    import torch
    from torch import nn


    class Net(nn.Module):
        """Own argument names: chans (input channels) and n_out (classes)."""

        def __init__(self, chans: int = 3, n_out: int = 10, width: int = 8):
            super().__init__()
            self.conv = nn.Conv2d(chans, width, 3, padding=1)
            self.dw = nn.Conv2d(width, width, 3, padding=1, groups=width)
            self.fc = nn.Linear(2 * width, n_out)

        def forward(self, x):
            x = torch.relu(self.conv(x))
            x = torch.cat([x, x + self.dw(x)], 1)
            return self.fc(x.mean((2, 3)))


    def factory(num_classes=10, in_channels=3):
        return Net(in_channels, num_classes)


    def not_a_model():
        return "hello"


    VALUE = 3

    if __name__ == "__main__":
        raise SystemExit("the main block must not run on import")
''')


@pytest.fixture
def net_file(tmp_path):
    path = tmp_path / "user_net.py"
    path.write_text(NET)
    return path


def test_file_reference_records_the_absolute_path_and_rebuilds(net_file, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    m = build_model("user_net.py:Net", chans=1, n_out=4)
    spec = get_arch(m)
    assert spec.name == f"{net_file.resolve()}:Net" and spec.kwargs == {"chans": 1, "n_out": 4}
    assert spec.label == "user_net.py:Net"
    assert m(torch.zeros(2, 1, 16, 16)).shape == (2, 4)
    again = build_from_spec(spec)
    assert [p.shape for p in again.parameters()] == [p.shape for p in m.parameters()]


def test_module_reference_and_a_factory(net_file, monkeypatch):
    monkeypatch.syspath_prepend(str(net_file.parent))
    m = build_model("user_net:factory", num_classes=3)
    assert get_arch(m).name == "user_net:factory" and m(torch.zeros(1, 3, 8, 8)).shape == (1, 3)
    assert resolve("user_net:Net").label == "user_net:Net" and not resolve("user_net:Net").registered
    assert resolve("lenet5").registered


def test_saved_model_of_a_file_reference_loads_in_a_new_process(net_file, tmp_path):
    m = build_model(f"{net_file}:Net", chans=1, n_out=4)
    with torch.no_grad():
        want = m(torch.ones(1, 1, 12, 12)).sum().item()
    path = save_model(tmp_path / "m.pt", m, task={"name": "classification", "class_names": list("abcd")},
                      preprocess={"input_size": [12, 12], "channels": 1, "mean": [0.0], "std": [1.0]})
    code = ("import torch, sys; from edgevision.artifacts import load_artifact; a = load_artifact(sys.argv[1]); "
            "print(a.model(torch.ones(1, 1, 12, 12)).sum().item())")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True,
                         cwd="/")
    assert abs(float(out.stdout) - want) < 1e-5
    assert load_artifact(path).arch.name.endswith("user_net.py:Net")


@pytest.mark.parametrize(("ref", "kwargs", "message"), [
    ("missing.py:Net", {}, r"no such file .*missing\.py"),
    ("user_net.py:Nett", {}, r"has no attribute 'Nett' \(did you mean: Net\?\); it defines: .*Net"),
    ("user_net.py:VALUE", {}, r"'VALUE' is of type int, expected a class or a function"),
    ("user_net.py:not_a_model", {}, r"returned a str, expected a torch\.nn\.Module"),
    ("no_such_pkg.sub:Net", {}, r"no module named 'no_such_pkg\.sub'"),
    ("user_net.py:Net", {"widht": 3}, r"does not take widht; it takes: chans, n_out, width"),
    ("user_net.Net", {}, r"unknown model 'user_net\.Net' \(a module's callable is written user_net:Net\)"),
    ("user_net.py:", {}, r"expected a registered name"),
])
def test_bad_references_are_one_line(net_file, monkeypatch, ref, kwargs, message):
    monkeypatch.chdir(net_file.parent)
    with pytest.raises(ConfigError, match=message) as info:
        build_model(ref, **kwargs)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("lib", ["timm", "torchvision"])
def test_zoo_prefixes_name_the_extra_when_the_library_is_missing(lib):
    try:
        usable = importlib.util.find_spec(lib) is not None and bool(importlib.import_module(lib))
    except Exception:
        usable = False
    if usable:
        pytest.skip(f"{lib} imports here; the zoo tests cover it")
    with pytest.raises(ConfigError, match=rf"{lib} (is not installed|does not import).*install the zoo extra"):
        resolve(f"{lib}:resnet18")


def test_cli_bad_reference_exits_2_and_writes_nothing(net_file, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run"
    code = main(["train", "--model", "user_net.py:Net", "--model-kwargs", "chans=3", "n_out=4", "depth=2",
                 "--data", "synthetic:shapes", "--input-size", "16", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "does not take depth" in err and not out.exists()


def test_a_model_that_does_not_fit_the_data_says_which_argument(net_file, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = ["train", "--model", "user_net.py:Net", "--data", "synthetic:shapes", "--input-size", "16",
            "--data.options", "n_train=64", "--epochs", "1", "--out", str(tmp_path / "r")]
    assert main([*base, "--model-kwargs", "chans=3"]) == 2
    assert "gives 10 outputs per image but the data has 6 classes" in capsys.readouterr().err
    assert main([*base, "--channels", "1", "--model-kwargs", "n_out=6"]) == 2
    assert "does not run on the data's input 1x16x16" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_convention_names_are_passed_only_when_taken(net_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = {"source": "synthetic:shapes", "input_size": 16, "channels": 1,
            "options": {"num_classes": 3, "n_train": 32, "n_val": 8, "n_test": 8}}
    import edgevision as ev

    res = ev.train(model="user_net.py:factory", data=data, epochs=1, out=tmp_path / "f")  # takes the convention
    assert get_arch(load_artifact(res.artifact).model).kwargs == {"num_classes": 3, "in_channels": 1}
    res = ev.train(model="user_net.py:Net", model_kwargs={"chans": 1, "n_out": 3}, data=data, epochs=1,
                   out=tmp_path / "n")
    assert get_arch(load_artifact(res.artifact).model).kwargs == {"chans": 1, "n_out": 3}


def test_model_kwargs_flag_takes_a_json_mapping():
    assert parse_pairs(['{"chans": 1, "n_out": 4}'], "--model-kwargs") == {"chans": 1, "n_out": 4}
    assert parse_pairs(["{chans: 1}"], "--model-kwargs") == {"chans": 1}
    assert parse_pairs(["a=1", "b=x"], "--model-kwargs") == {"a": 1, "b": "x"}


def test_profile_takes_a_reference(net_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    import edgevision as ev

    res = ev.profile("user_net.py:Net", input="3x16x16", out=tmp_path / "p", engines=["torch"], budget_s=0.1)
    assert res.card["profile"]["params"] == sum(p.numel() for p in build_model("user_net.py:Net").parameters())


def test_zoo_references_map_the_convention_onto_the_library(monkeypatch):
    """timm and torchvision stand-ins: the reference builds through the library's own factory, with in_channels
    passed to timm as in_chans, no pretrained weights, and an unknown name suggests close ones."""
    import types

    calls = []

    def create_model(name, pretrained, num_classes, in_chans, **kw):
        calls.append((name, pretrained, num_classes, in_chans, kw))
        return torch.nn.Conv2d(in_chans, num_classes, 1)

    timm = types.SimpleNamespace(list_models=lambda: ["mobilenetv3_small_100", "resnet18"], create_model=create_model)
    tv_models = types.SimpleNamespace(list_models=lambda: ["resnet18"],
                                      get_model=lambda name, weights, num_classes: torch.nn.Linear(3, num_classes))
    monkeypatch.setitem(sys.modules, "timm", timm)
    monkeypatch.setitem(sys.modules, "torchvision", types.SimpleNamespace(models=tv_models))
    m = build_model("timm:mobilenetv3_small_100", num_classes=4, in_channels=1, drop_rate=0.1)
    assert calls == [("mobilenetv3_small_100", False, 4, 1, {"drop_rate": 0.1})]
    assert get_arch(build_from_spec(get_arch(m))).name == "timm:mobilenetv3_small_100" and len(calls) == 2
    assert build_model("torchvision:resnet18", num_classes=5).out_features == 5
    with pytest.raises(ConfigError, match=r"timm has no architecture 'resnet19' \(did you mean: resnet18\?\)"):
        resolve("timm:resnet19")


def test_a_recipe_finds_its_model_file_beside_it_from_any_working_directory(net_file, tmp_path, monkeypatch):
    from edgevision.recipe import load_recipe, plan

    (tmp_path / "ckpt.pth").write_bytes(b"")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("data: {source: 'synthetic:shapes', input_size: 16}\nstages:\n"
                      "  - train: {model: 'user_net.py:Net', model_kwargs: {n_out: 4}, weights: ckpt.pth, epochs: 1}\n"
                      "  - profile: {target: '@train'}\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    rc = load_recipe(recipe)
    train = rc.stages[0]["train"]
    assert train["model"] == f"{net_file.resolve()}:Net" and train["weights"] == str((tmp_path / "ckpt.pth").resolve())
    assert rc.stages[1]["profile"]["target"] == "@train"  # not a file: left as written
    plan(rc, tmp_path / "runs")  # validates with the resolved reference
    recipe.write_text("stages:\n  - train: {model: 'missing.py:Net'}\n")
    assert load_recipe(recipe).stages[0]["train"]["model"] == "missing.py:Net"  # left for the working directory
