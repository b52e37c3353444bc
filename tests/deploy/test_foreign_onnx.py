"""Foreign ONNX files (exported by plain torch.onnx.export from a network that is not edgevision's): described once,
then evaluated, predicted, profiled, benched and int8-quantized like any artifact."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch
from torch import nn
from torch.nn import functional as F

import edgevision
from conftest import tiny_data
from edgevision.data import BatchTransform, DataConfig, load_data
from edgevision.deploy.foreign import describe
from edgevision.deploy.onnx import read_metadata
from edgevision.deploy.onnxstats import onnx_macs, onnx_params
from edgevision.errors import ConfigError, EdgevisionError

pytestmark = pytest.mark.usefixtures("one_thread")
SIZE, CLASSES = 24, 4
MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
NAMES = ["circle", "square", "triangle", "star"]  # the synthetic shapes' classes


class PlainNet(nn.Module):
    """A plain torch network with a residual add, a concat (fire-style) and a depthwise conv."""

    def __init__(self, k: int = CLASSES) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.dw = nn.Sequential(nn.Conv2d(16, 16, 3, 1, 1, groups=16, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                                nn.Conv2d(16, 16, 1, bias=False), nn.BatchNorm2d(16))
        self.left, self.right = nn.Conv2d(16, 16, 1), nn.Conv2d(16, 16, 3, 1, 1)
        self.down = nn.Sequential(nn.Conv2d(32, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
                                  nn.Conv2d(32, 32, 3, 2, 1), nn.ReLU())
        self.fc = nn.Linear(32, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = F.relu(x + self.dw(x))  # residual add around the depthwise block
        x = torch.cat([F.relu(self.left(x)), F.relu(self.right(x))], 1)  # concat
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.down(x), 1), 1))


def _train(model: nn.Module, data: dict, steps: int = 150) -> nn.Module:
    """A few plain-torch Adam steps on the synthetic shapes, so int8 agreement is measured on a real classifier."""
    splits = load_data(DataConfig.model_validate({**data, "mean": MEAN, "std": STD}), "classification")
    tf = BatchTransform(splits.mean, splits.std)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    n = len(splits.train)
    gen = torch.Generator().manual_seed(0)
    model.train()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # module-scoped: the one_thread fixture does not apply yet
    for _ in range(steps):
        idx = torch.randint(0, n, (32,), generator=gen)
        batch = tf(dict(splits.train.get_batch(idx)), None)
        loss = F.cross_entropy(model(batch["image"]), batch["label"])
        opt.zero_grad()
        loss.backward()
        opt.step()
    torch.set_num_threads(threads)
    return model.eval()


def _export(model: nn.Module, path, dynamic: bool = False):
    """Plain ``torch.onnx.export`` (TorchScript exporter), as a user outside edgevision would call it."""
    kw = {"dynamic_axes": {"x": {0: "n", 2: "h", 3: "w"}, "logits": {0: "n"}}} if dynamic else {}
    torch.onnx.export(model, (torch.randn(1, 3, SIZE, SIZE),), str(path), dynamo=False, input_names=["x"],
                      output_names=["logits"], **kw)
    return path


@pytest.fixture(scope="module")
def data() -> dict:
    return tiny_data(n_train=256, size=SIZE, classes=CLASSES)


@pytest.fixture(scope="module")
def plain(data) -> nn.Module:
    torch.manual_seed(0)
    return _train(PlainNet(), data)


@pytest.fixture
def foreign(plain, tmp_path):
    return _export(plain, tmp_path / "plain.onnx")


def _flags(**extra) -> dict:
    return {"mean": MEAN, "std": STD, **extra}


def test_foreign_file_without_description_names_the_missing_flags(foreign, data, tmp_path):
    before = foreign.read_bytes()
    with pytest.raises(ConfigError, match="needs its normalization once: pass --mean and --std"):
        edgevision.evaluate(foreign, out=tmp_path / "e", data=data)
    assert foreign.read_bytes() == before and not (tmp_path / "e").exists()  # nothing written


def test_dynamic_spatial_dims_need_input_size(plain, data, tmp_path):
    path = _export(plain, tmp_path / "dyn.onnx", dynamic=True)
    before = path.read_bytes()
    with pytest.raises(ConfigError, match=r"dynamic spatial dims \(n×3×h×w\); pass --input-size"):
        edgevision.evaluate(path, out=tmp_path / "e", data=data, **_flags())
    assert path.read_bytes() == before
    meta = describe(path, _flags(input_size=SIZE))
    assert meta["preprocess"]["input_size"] == [SIZE, SIZE] and meta["input"]["shape"][0] == "n"


@pytest.mark.parametrize(("opts", "match"), [
    ({"input_size": 32}, "has height 24; --input-size 32 does not match it"),
    ({"mean": (0.5, 0.5)}, "--mean has 2 values; expected 1 or 3"),
    ({"classes": ["a", "b"]}, "--classes names 2 classes; the model's output has 4"),
    ({"task": "segmentation"}, "the first output is 1×4; expected class logits"),
    ({"labels": "nope.txt"}, "--labels nope.txt: no such file"),
])
def test_bad_descriptions_are_one_line_and_write_nothing(foreign, opts, match):
    before = foreign.read_bytes()
    with pytest.raises(ConfigError, match=match):
        describe(foreign, {**_flags(), **opts})
    assert foreign.read_bytes() == before


def test_description_is_recorded_once_and_reused(foreign, plain, data, tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("circle\nsquare\ntriangle\ncross\n")
    res = edgevision.evaluate(foreign, out=tmp_path / "e1", data=data, labels=str(labels), **_flags())
    meta = read_metadata(foreign, verify=True)
    assert meta["foreign"] and meta["task"]["class_names"] == ["circle", "square", "triangle", "cross"]
    assert meta["preprocess"]["mean"] == list(MEAN) and meta["preprocess"]["input_size"] == [SIZE, SIZE]
    graph = onnx.load(str(foreign)).graph
    assert len(graph.node) > 10 and graph.input[0].name == "x"  # the graph itself is unchanged
    top1 = res.card["metrics"]["test"]["top1"]
    again = edgevision.evaluate(foreign, out=tmp_path / "e2", data=data)  # no flags the second time
    assert again.card["metrics"]["test"]["top1"] == pytest.approx(top1)
    splits = load_data(DataConfig.model_validate({**data, "mean": MEAN, "std": STD}), "classification")
    batch = BatchTransform(splits.mean, splits.std)(dict(splits.test.get_batch(torch.arange(len(splits.test)))), None)
    with torch.no_grad():
        want = float((plain(batch["image"]).argmax(1) == batch["label"]).float().mean())
    assert top1 == pytest.approx(want)  # the described normalization is the one the network was trained with


def test_edgevision_artifacts_refuse_foreign_flags(tmp_path, data):
    run = edgevision.train(out=tmp_path / "t", model="student_cnn", model_kwargs={"width": 4, "depth": 1},
                           data=data, epochs=1, max_steps_per_epoch=1)
    with pytest.raises(ConfigError, match="--mean describe foreign ONNX files"):
        edgevision.evaluate(run.run_dir, out=tmp_path / "e", mean=MEAN)


def test_graph_params_and_macs_match_torch(plain, foreign):
    from edgevision.models.complexity import count_macs

    n_params = sum(p.numel() for p in plain.parameters())
    bn = sum(m.num_features for m in plain.modules() if isinstance(m, nn.BatchNorm2d))
    assert onnx_params(foreign) == n_params - bn  # the exporter folds each BN's γ, β into one conv bias
    assert onnx_macs(foreign, (3, SIZE, SIZE)) == count_macs(plain, (3, SIZE, SIZE))


def test_fixed_batch_file_runs_any_batch(foreign):
    from edgevision.deploy.onnx import OnnxModule

    x = torch.randn(5, 3, SIZE, SIZE)
    out = OnnxModule(foreign)(x)
    ref = torch.cat([OnnxModule(foreign)(x[i:i + 1]) for i in range(5)])
    assert out.shape == (5, CLASSES) and torch.allclose(out, ref)


@pytest.mark.slow
def test_foreign_onnx_quantized_and_benched_from_the_cli(foreign, data, tmp_path):
    """The CLI path: quantize a foreign file with flags (int8 × fp32 ratio measured in the same run), then bench
    and profile both files without any flag."""
    def cli(*args):
        p = subprocess.run([sys.executable, "-m", "edgevision", *map(str, args)], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        return p

    cli("quantize", foreign, "--data", "synthetic:shapes", "--set", f"data={json.dumps(data)}", "--mean", "0.5",
        "--std", "0.25", "--classes", "circle,square,triangle,cross", "--calib-samples", "64", "--budget-s", "0.3",
        "--out", tmp_path / "q")
    rep = json.loads((tmp_path / "q" / "quantize.json").read_text())
    assert rep["parity"]["pass"] and rep["speedup"] > 0 and rep["stem"] is not None
    assert "int8 is" in rep["verdict"]
    int8 = tmp_path / "q" / "model.int8.onnx"
    assert read_metadata(int8)["precision"] == "int8" and read_metadata(int8)["meta"]["data"]
    cli("bench", foreign, int8, "--engines", "onnxruntime", "--budget", "0.3", "--rounds", "3", "--no-peak",
        "--set", f"data={json.dumps(data)}", "--out", tmp_path / "b")
    rows = json.loads((tmp_path / "b" / "bench.json").read_text())["rows"]
    assert [r["precision"] for r in rows] == ["fp32", "int8"]
    assert all(r["accuracy"] is not None and r["macs"] > 0 for r in rows)
    cli("profile", int8, "--budget-s", "0.2", "--out", tmp_path / "p")
    assert json.loads((tmp_path / "p" / "profile.json").read_text())["macs"] == rows[0]["macs"]


def test_foreign_int8_pipeline_in_python(foreign, data, tmp_path):
    res = edgevision.quantize(foreign, out=tmp_path / "q", data=data, calib_samples=64, budget_s=0.2,
                              qat="off", **_flags())
    rep = json.loads((tmp_path / "q" / "quantize.json").read_text())
    assert rep["parity"]["agreement"] >= 0.99 and rep["speedup_rounds"] >= 1
    assert res.card["macs"] == onnx_macs(foreign, (3, SIZE, SIZE)) and res.card["model"]["name"] == "onnx"
    with pytest.raises(EdgevisionError, match="already int8"):
        edgevision.quantize(res.artifact, out=tmp_path / "q2", data=data)
    with pytest.raises(ConfigError, match="--qat on fine-tunes a torch model"):
        edgevision.quantize(foreign, out=tmp_path / "q3", data=data, qat="on")
    assert not (tmp_path / "q3").exists()
    np.testing.assert_equal(read_metadata(res.artifact)["preprocess"]["std"], list(STD))


def test_foreign_onnx_teaches_a_student(foreign, data, tmp_path):
    res = edgevision.distill(foreign, out=tmp_path / "d", student="student_cnn",
                             student_kwargs={"width": 4, "depth": 1}, data=data, epochs=1, max_steps_per_epoch=2,
                             batch_size=16, teacher_onnx={"mean": MEAN, "std": STD, "classes": NAMES})
    assert res.artifact.exists() and read_metadata(foreign)["task"]["class_names"] == NAMES


def test_a_partly_described_onnx_teacher_names_the_teacher_flags(foreign, data, tmp_path):
    """The description's messages speak of --teacher-onnx.std, not of eval's --std, when a teacher lacks it."""
    with pytest.raises(ConfigError) as e:
        edgevision.distill(foreign, out=tmp_path / "d", student="student_cnn", data=data, epochs=1,
                           teacher_onnx={"mean": MEAN})
    msg = str(e.value)
    assert "--teacher-onnx.std" in msg and " --std" not in msg and "--teacher-onnx.mean" in msg
    assert not (tmp_path / "d").exists()


def test_training_verbs_convert_with_onnx2torch_or_say_what_is_missing(foreign, data, tmp_path):
    import importlib.util

    if importlib.util.find_spec("onnx2torch") is not None:
        pytest.skip("onnx2torch is installed here; tests/zoo/test_onnx2torch.py covers the conversion")
    describe_opts = _flags()
    edgevision.evaluate(foreign, out=tmp_path / "e", data=data, **describe_opts)
    with pytest.raises(ConfigError, match="needs its torch form; onnx2torch is not installed: it comes with the zoo"):
        edgevision.prune(foreign, out=tmp_path / "p", sparsity=0.5, epochs=0, data=data)
    assert not (tmp_path / "p").exists()


def test_cli_bad_input_is_one_line_exit_2_and_writes_nothing(plain, tmp_path, capsys):
    from edgevision.cli import main

    path = _export(plain, tmp_path / "dyn.onnx", dynamic=True)
    before = path.read_bytes()
    code = main(["eval", str(path), "--mean", "0.5", "--std", "0.25", "--out", str(tmp_path / "e")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "Traceback" not in err and len(err.splitlines()) == 1
    assert "dynamic spatial dims" in err and "--input-size" in err
    assert path.read_bytes() == before and not (tmp_path / "e").exists()


def test_predict_runs_a_described_foreign_file(foreign, plain, tmp_path):
    import cv2

    imgs = tmp_path / "imgs"
    imgs.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        cv2.imwrite(str(imgs / f"{i}.png"), rng.integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8))
    edgevision.predict(foreign, [str(imgs)], out=tmp_path / "p", classes=NAMES, **_flags())
    lines = [json.loads(s) for s in (tmp_path / "p" / "predictions.jsonl").read_text().splitlines()]
    assert len(lines) == 3 and all(x["label"] in NAMES for x in lines)
    img = cv2.cvtColor(cv2.imread(str(imgs / "0.png")), cv2.COLOR_BGR2RGB).astype(np.float32) / 255
    x = torch.from_numpy((img - np.array(MEAN, np.float32)) / np.array(STD, np.float32)).permute(2, 0, 1)[None]
    with torch.no_grad():
        want = NAMES[int(plain(x).argmax())]
    assert next(x for x in lines if x["file"].endswith("0.png"))["label"] == want
