"""A tiny trained classifier shared by the speed tests (structured pruning, quantization, export, bench)."""

from __future__ import annotations

import pytest

from conftest import tiny_data


def speed_data() -> dict:
    data = tiny_data(n_train=192, size=24, classes=3, occluders=0, noise=4)
    data["options"].update(n_val=64, n_test=64)
    return data


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """student_cnn (BatchNorm, 2 stages) trained briefly on 3 synthetic shapes at 24 px; returns its model.pt."""
    import edgevision as ev

    out = tmp_path_factory.mktemp("speed") / "train"
    res = ev.train(model="student_cnn", model_kwargs={"width": 8, "depth": 2, "convs_per_stage": 1},
                   data=speed_data(), epochs=1, batch_size=32, optimizer="adamw", lr=0.01, out=out)
    return res.artifact


@pytest.fixture(scope="session")
def exported(trained, tmp_path_factory):
    """The trained model exported to fp32 + int8 ONNX (int8 agreement relaxed: the model is barely trained)."""
    import edgevision as ev

    out = tmp_path_factory.mktemp("speed") / "export"
    return ev.export(trained, int8=True, min_agreement=0.8, out=out)
