"""CLI smoke test of every verb, and the bad inputs: one line, non-zero exit, no traceback."""

import json
import subprocess
import sys

import pytest
import yaml

from conftest import tiny_data
from edgevision.cli import main


def run_cli(capsys, *argv):
    capsys.readouterr()  # only this command's output
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny trained run folder shared by the smoke tests."""
    out = tmp_path_factory.mktemp("cli") / "train"
    code = main(["train", "--model", "student_cnn", "--model-kwargs", "width=8", "depth=2", "--data",
                 "synthetic:shapes", "--input-size", "24", "--epochs", "2", "--batch-size", "16",
                 "--set", "data.options.n_train=64", "--set", "data.options.n_val=16", "--set",
                 "data.options.n_test=16", "--set", "data.options.num_classes=3", "--out", str(out)])
    assert code == 0
    return out


def test_help_of_every_verb_has_an_example(capsys):
    from edgevision.cli import build_parser

    verbs = build_parser()._subparsers._group_actions[0].choices
    assert {"models", "profile", "train", "eval", "predict", "run", "quickstart", "report"} <= set(verbs)
    for verb in verbs:
        with pytest.raises(SystemExit) as e:
            main([verb, "--help"])
        assert e.value.code == 0
        assert "example:" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:  # the top-level help formats every verb's one-line summary
        main(["--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and all(v in out for v in verbs)


def test_models_json(capsys):
    code, out, _ = run_cli(capsys, "models", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert code == 0 and rows["lenet5"]["params"] == 431_080 and rows["lenet5"]["macs"] > 0


def test_train_writes_a_complete_run_folder(trained):
    for f in ("config.yaml", "metrics.jsonl", "model.pt", "card.json", "checkpoints/last.pt"):
        assert (trained / f).exists(), f
    card = json.loads((trained / "card.json").read_text())
    for key in ("task", "model", "params", "macs", "file_bytes", "metrics", "latency", "parent", "git_sha",
                "edgevision_version"):
        assert key in card, key
    assert card["model"]["name"] == "student_cnn" and card["file_bytes"] == (trained / "model.pt").stat().st_size


def test_eval_predict_profile_report(trained, tmp_path, capsys):
    code, out, _ = run_cli(capsys, "eval", trained, "--json", "--out", tmp_path / "ev")
    assert code == 0 and "top1" in json.loads(out)["metrics"]["test"]
    code, out, _ = run_cli(capsys, "profile", trained, "--json", "--threads", "1", "--out", tmp_path / "pr",
                           "--set", "budget_s=0.1")
    prof = json.loads(out)
    assert code == 0 and {"torch", "onnxruntime"} <= set(prof["latency"]) and prof["file_bytes"] > 0
    assert prof["latency"]["onnxruntime"]["p50_ms"] > 0 and prof["peak_rss_mb"] > 0
    import cv2
    import numpy as np

    img_dir = tmp_path / "imgs"
    img_dir.mkdir()
    for i in range(3):
        cv2.imwrite(str(img_dir / f"{i}.png"), np.full((40, 50, 3), 60 * i, np.uint8))
    (img_dir / "bad.png").write_bytes(b"nope")
    code, out, err = run_cli(capsys, "predict", trained, img_dir, "--json", "--out", tmp_path / "pred")
    preds = json.loads(out)
    assert code == 0 and len(preds) == 3 and {"label", "score", "topk"} <= set(preds[0])
    assert (tmp_path / "pred" / "0.png").exists() and "1 unreadable" in err
    code, out, _ = run_cli(capsys, "report", trained, tmp_path / "ev", tmp_path / "pr", "--out", tmp_path / "r.html")
    html = (tmp_path / "r.html").read_text()
    assert code == 0 and "Training curves" in html and "Profile" in html and "data:image/png;base64," in html


def test_profile_registry_model(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "profile", "lenet5", "--engines", "torch", "--json", "--batch", "4",
                           "--set", "budget_s=0.05", "--out", tmp_path / "p")
    prof = json.loads(out)
    assert code == 0 and prof["macs"] == 2_293_000 and prof["input_shape"] == [1, 28, 28]


def test_run_recipe_and_resume(tmp_path, capsys):
    recipe = {"name": "t", "data": tiny_data(n_train=48, classes=3),
              "stages": [{"train": {"model": "student_cnn", "model_kwargs": {"width": 8, "depth": 2}, "epochs": 1,
                                    "batch_size": 16}},
                         {"eval": {}}, {"profile": {"engines": ["torch"], "budget_s": 0.05}}, {"report": {}}]}
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    code, _, _ = run_cli(capsys, "run", path, "--out", tmp_path / "out")
    assert code == 0 and (tmp_path / "out" / "report.html").exists()
    status = json.loads((tmp_path / "out" / "recipe.json").read_text())
    assert [s["status"] for s in status["stages"]] == ["complete"] * 4
    mtime = (tmp_path / "out" / "train" / "model.pt").stat().st_mtime
    code, _, err = run_cli(capsys, "run", path, "--out", tmp_path / "out")
    assert code == 0 and "already complete" in err
    assert (tmp_path / "out" / "train" / "model.pt").stat().st_mtime == mtime


# ----------------------------------------------------------------------------- bad input


def _one_line_error(code, err, *needles):
    lines = [x for x in err.strip().splitlines() if x.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    for n in needles:
        assert n in lines[0], (n, lines[0])


def test_missing_path(capsys, tmp_path):
    _one_line_error(*run_cli(capsys, "train", "--data", tmp_path / "nope", "--out", tmp_path / "o")[::2],
                    "nope", "no such path")
    _one_line_error(*run_cli(capsys, "eval", tmp_path / "missing.pt")[::2], "missing.pt")


def test_empty_dataset(capsys, tmp_path):
    (tmp_path / "data" / "cls").mkdir(parents=True)
    _one_line_error(*run_cli(capsys, "train", "--data", tmp_path / "data", "--out", tmp_path / "o")[::2],
                    "no images found")


def test_unknown_model_suggests(capsys, tmp_path):
    _one_line_error(*run_cli(capsys, "train", "--model", "lenet6", "--data", "synthetic:shapes", "--out",
                             tmp_path / "o")[::2], "unknown model 'lenet6'", "did you mean: lenet5")
    _one_line_error(*run_cli(capsys, "profile", "squeezenet1_2")[::2], "squeezenet1_0")


def test_bad_recipe_key_and_value(capsys, tmp_path):
    bad_key = tmp_path / "k.yaml"
    bad_key.write_text(yaml.safe_dump({"stages": [{"train": {"epochs": 1}}, {"eval": {"splt": "test"}}]}))
    _one_line_error(*run_cli(capsys, "run", bad_key, "--out", tmp_path / "o")[::2],
                    "stages[1].eval.splt", "did you mean: split")
    assert not (tmp_path / "o" / "train").exists()  # validated before anything ran
    bad_val = tmp_path / "v.yaml"
    bad_val.write_text(yaml.safe_dump({"stages": [{"train": {"optimizer": "sgdd"}}]}))
    _one_line_error(*run_cli(capsys, "run", bad_val)[::2], "stages[0].train.optimizer", "'sgd', 'adam' or 'adamw'")
    bad_range = tmp_path / "r.yaml"
    bad_range.write_text(yaml.safe_dump({"stages": [{"train": {"epochs": -1}}]}))  # 0 is allowed: no training
    _one_line_error(*run_cli(capsys, "run", bad_range)[::2], "stages[0].train.epochs", "greater than or equal to 0")
    bad_verb = tmp_path / "b.yaml"
    bad_verb.write_text(yaml.safe_dump({"stages": [{"trian": {}}]}))
    _one_line_error(*run_cli(capsys, "run", bad_verb)[::2], "unknown stage 'trian'", "train")
    broken = tmp_path / "x.yaml"
    broken.write_text("stages: [train: {epochs: 1}\n")
    _one_line_error(*run_cli(capsys, "run", broken)[::2], "invalid YAML", "line")


def test_corrupt_checkpoint(capsys, tmp_path, trained):
    bad = tmp_path / "model.pt"
    data = (trained / "model.pt").read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    _one_line_error(*run_cli(capsys, "eval", bad)[::2], "model.pt", "corrupt")
    other = tmp_path / "other.pt"
    import torch

    torch.save({"hello": 1}, other)
    _one_line_error(*run_cli(capsys, "eval", other)[::2], "not an edgevision model")


def test_bad_input_shape(capsys):
    _one_line_error(*run_cli(capsys, "profile", "lenet5", "--input", "3xfoo")[::2], "--input '3xfoo'")
    _one_line_error(*run_cli(capsys, "profile", "lenet5", "--input", "3x224x224", "--engines", "torch")[::2],
                    "cannot run on input 3x224x224")


def test_refuses_to_overwrite_a_finished_run(capsys, trained):
    _one_line_error(*run_cli(capsys, "train", "--data", "synthetic:shapes", "--out", trained)[::2],
                    "already holds a finished run")


def test_real_process_exit_code_and_no_traceback(tmp_path):
    r = subprocess.run([sys.executable, "-m", "edgevision", "eval", str(tmp_path / "nope.pt")], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.startswith("error: ") and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "edgevision", "--debug", "eval", str(tmp_path / "nope.pt")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" in r.stderr


def test_resume_reuses_saved_options_and_extends(capsys, tmp_path):
    out = tmp_path / "r"
    base = ["train", "--model", "student_cnn", "--model-kwargs", "width=8", "depth=2", "--data", "synthetic:shapes",
            "--input-size", "24", "--batch-size", "16", "--set", "data.options.n_train=48", "--set",
            'lr_mult={"head.*": 0.5}', "--out", out]
    assert run_cli(capsys, *base, "--epochs", "1")[0] == 0
    code, _, err = run_cli(capsys, "train", "--epochs", "2", "--resume", "--out", out)  # options come from config.yaml
    assert code == 0, err
    card = json.loads((out / "card.json").read_text())
    assert card["metrics"]["epochs_run"] == 2 and card["model"]["kwargs"]["width"] == 8
    assert yaml.safe_load((out / "config.yaml").read_text())["lr_mult"] == {"head.*": 0.5}


def test_a_mistyped_model_kwarg_is_a_one_line_error(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", "--model", "squeezenet1_1", "--model-kwargs", "bn=maybe", "--data",
                           "synthetic:shapes", "--input-size", "32", "--epochs", "1", "--out", tmp_path / "t")
    assert code == 2 and "model_kwargs for 'squeezenet1_1': bn='maybe': expected bool" in err
    assert "Traceback" not in err and not (tmp_path / "t" / "model.pt").exists()
