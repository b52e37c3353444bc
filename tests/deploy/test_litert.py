"""``export --format tflite``: LiteRT fp32 and full-integer int8 files on a plain CNN, a residual network and a
concatenating one, parity-checked in LiteRT's interpreter (slow: each conversion traces the model twice)."""

from __future__ import annotations

import pytest

import edgevision as ev
from conftest import tiny_data
from edgevision.cli import main
from edgevision.deploy import litert
from edgevision.errors import ConfigError

MODELS = {"plain": ("student_cnn", {"width": 8, "depth": 2}), "residual": ("resnet8", {}),
          "concat": ("squeezenet1_1", {})}
needs_litert = pytest.mark.skipif(not litert.available(), reason="the litert extra is not installed "
                                  "(pip install 'edgevision[litert]')")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("lt")
    return {k: ev.train(model=m, model_kwargs=kw, data=tiny_data(n_train=64, size=32), epochs=1, batch_size=32,
                        out=root / k).artifact for k, (m, kw) in MODELS.items()}


@needs_litert
@pytest.mark.slow
@pytest.mark.parametrize("kind", list(MODELS))
def test_tflite_export_passes_parity_in_litert(trained, kind, tmp_path):
    res = ev.export(trained[kind], format="tflite", int8=True, min_agreement=0.9, calib_samples=32,
                    out=tmp_path / "e")
    files = {f["precision"]: f for f in res.card["files"]}
    assert set(files) == {"fp32", "int8"} and res.card["rejected"] == []
    assert files["fp32"]["litert"]["max_rel_err"] <= 1e-4 and files["int8"]["litert"]["agreement"] >= 0.9
    assert (tmp_path / "e" / "model.tflite").is_file() and (tmp_path / "e" / "model.int8.tflite").is_file()
    if kind == "concat":
        assert files["int8"]["bytes"] < files["fp32"]["bytes"] / 2


def test_missing_litert_extra_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(litert, "available", lambda: False)
    code = main(["export", str(tmp_path / "nope.pt"), "--format", "tflite", "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "pip install 'edgevision[litert]'" in err[0]
    with pytest.raises(ConfigError, match="litert extra"):
        litert.Runner(tmp_path / "m.tflite")
