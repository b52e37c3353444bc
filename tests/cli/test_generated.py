"""The CLI is generated from the stage configs: every option is reachable, flags parse to the config's types, old
spellings still work, and ``--help`` imports no torch."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time

import pytest

from edgevision.cli import main, options
from edgevision.cli.flags import DEST, model_of
from edgevision.cli.verbs import build_parser, discover

VERBS = discover()


def subparser(name: str):
    parser = build_parser()
    for part in name.split():
        parser = next(a for a in parser._actions if hasattr(a, "choices") and isinstance(a.choices, dict)).choices[
            part]
    return parser


def parse(*argv: str):
    return build_parser().parse_args([str(a) for a in argv])


@pytest.mark.parametrize("verb,config", VERBS, ids=[v.name for v, _ in VERBS])
def test_every_config_field_has_a_flag(verb, config):
    """Each field is a flag or a positional; a nested model's fields are flags too (deeper keys go by --set)."""
    dests = {a.dest for a in subparser(verb.name)._actions}
    for name, field in config.model_fields.items():
        sub = model_of(field.annotation)
        if sub is None:
            assert DEST + name in dests, f"{verb.name}: no flag for {name}"
            continue
        assert all(DEST + f"{name}.{k}" in dests for k in sub.model_fields), f"{verb.name}: {name}.*"
    assert verb.examples and all(e.startswith("edgevision " + verb.name) for e in verb.examples)


def test_flags_parse_to_the_config_types():
    opts = options(parse("prune", "runs/x", "--sparsity", "fc1=0.97,conv*=0.8", "--layers", "conv*,fc1", "--epochs",
                         "2", "--distill", "--distill.alpha", "0.5", "--data", "mnist", "--input-size", "28x28",
                         "--no-nesterov", "--set", "data.options.n_train=50"))
    assert opts == {"artifact": "runs/x", "sparsity": {"fc1": 0.97, "conv*": 0.8}, "layers": ["conv*", "fc1"],
                    "epochs": 2, "distill": {"alpha": 0.5}, "nesterov": False,
                    "data": {"source": "mnist", "input_size": [28, 28], "options": {"n_train": 50}}}
    opts = options(parse("train", "--model-kwargs", "width=16", "depth=3", "--data.mean", "0.5,0.4,0.3",
                         "--augment", "{hflip: 0.5}", "--augment.rotate", "{degrees: 10}"))
    assert opts == {"model_kwargs": {"width": 16, "depth": 3}, "data": {"mean": [0.5, 0.4, 0.3]},
                    "augment": {"hflip": 0.5, "rotate": {"degrees": 10}}}


def test_old_spellings_are_aliases():
    assert options(parse("sensitivity", "a", "--keep", "0.5,0.2"))["keep_ratios"] == [0.5, 0.2]
    assert options(parse("cluster", "a", "--init", "density"))["centroid_init"] == "density"
    assert options(parse("profile", "lenet5", "--input", "1x28x28"))["input_size"] == "1x28x28"
    assert options(parse("anchors", "synthetic:shapes", "--input", "64x64"))["input_size"] == "64x64"
    assert options(parse("export", "a", "--static-batch"))["dynamic_batch"] is False
    assert options(parse("quantize", "a", "--per-tensor"))["per_channel"] is False
    from edgevision.configs.compress import ClusterConfig, SensitivityConfig

    assert SensitivityConfig(artifact="a", keep=[0.5]).keep_ratios == [0.5]  # recipes with the old keys
    assert ClusterConfig(artifact="a", init="random").centroid_init == "random"


@pytest.mark.parametrize("argv,needle", [
    (["prune", "a", "--sparsity"], "expected one argument"),
    (["shrink", "a", "--importance", "magic"], "invalid choice"),
    (["train", "--model-kwargs", "width"], "expected KEY=VALUE"),
    (["train", "--epochs", "ten"], "train.epochs"),
    (["train", "--no-such-flag"], "unrecognized arguments"),
    (["train", "--augment.blur", "{kernel: 4}"], "must be odd"),
    (["run", "no-such-recipe"], "packaged: "),
    (["list", "no-such-registry"], "unknown registry"),
])
def test_bad_command_lines_are_one_line_errors(argv, needle, capsys, tmp_path):
    assert main([*argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and needle in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "runs").exists()


def test_list_registries_and_entries(capsys):
    assert main(["list", "--json"]) == 0
    names = {r["name"] for r in json.loads(capsys.readouterr().out)}
    assert {"models", "sources", "tasks", "exporters", "importance", "criteria", "sections", "teachers",
            "recipes"} <= names
    assert main(["list", "importance", "--json"]) == 0
    rows = {r["name"]: r["description"] for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == {"l1", "l2", "bn_scale", "taylor"} and all(rows.values())
    assert main(["list", "recipes"]) == 0 and "quickstart" in capsys.readouterr().out


HEAVY = ("torch", "cv2", "sklearn", "onnxruntime")
PROBE = "import sys\nfrom edgevision.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass\n" \
        "print(','.join(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)"


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"], ["faces", "enroll", "--help"], ["prune", "--help"]])
def test_help_imports_no_torch(argv):
    r = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv, heavy=HEAVY)], capture_output=True, text=True,
                       timeout=120)
    loaded = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""
    assert r.returncode == 0 and loaded == "", r.stderr


def _seconds(code: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120, check=True)
    return time.perf_counter() - t0


def test_help_starts_in_under_half_the_time_of_import_torch():
    """Interleaved rounds in one process; the median of `edgevision --help` over the median of `import torch`."""
    helps, torches = [], []
    for _ in range(5):
        helps.append(_seconds("from edgevision.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n"
                              "    pass"))
        torches.append(_seconds("import torch"))
    ratio = statistics.median(helps) / statistics.median(torches)
    assert ratio <= 0.5, f"--help {statistics.median(helps):.2f}s vs import torch {statistics.median(torches):.2f}s"
