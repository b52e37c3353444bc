"""A user's own model file through every verb from the command line, each step a new process.

The file has a residual add, a concatenation and a depthwise convolution, and its constructor uses its own argument
names (``in_ch``, ``classes``). It is trained on real MNIST, then shrunk, quantized, packed, exported and benched;
every artifact is reloaded by ``edgevision eval`` in a new process started from another folder (the spec holds the
file's absolute path).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import require_data

pytestmark = [pytest.mark.data, pytest.mark.slow]

USER_NET = textwrap.dedent('''
    import torch
    from torch import nn


    class Fire(nn.Module):
        """Squeeze, then a 1x1 and a depthwise 3x3 expand, concatenated (SqueezeNet's fire module)."""

        def __init__(self, c_in, squeeze, expand):
            super().__init__()
            self.squeeze = nn.Sequential(nn.Conv2d(c_in, squeeze, 1, bias=False), nn.BatchNorm2d(squeeze), nn.ReLU())
            self.e1 = nn.Conv2d(squeeze, expand, 1)
            self.e3 = nn.Conv2d(squeeze, squeeze, 3, padding=1, groups=squeeze)

        def forward(self, x):
            s = self.squeeze(x)
            return torch.relu(torch.cat([self.e1(s), self.e3(s)], 1))


    class UserNet(nn.Module):
        def __init__(self, in_ch: int = 3, classes: int = 1000, width: int = 32):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(in_ch, width, 3, stride=2, padding=1, bias=False),
                                      nn.BatchNorm2d(width), nn.ReLU())
            self.block = nn.Sequential(nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width))
            self.fire = Fire(width, width // 2, width // 2)  # out: width // 2 + width // 2 channels
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(width, classes)

        def forward(self, x):
            x = self.stem(x)
            x = torch.relu(x + self.block(x))  # residual add
            return self.fc(self.pool(self.fire(x)).flatten(1))


    if __name__ == "__main__":
        raise SystemExit("not run on import")
''')


def ev(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "EDGEVISION_PROGRESS": "0"}
    r = subprocess.run([sys.executable, "-m", "edgevision", *args], cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, f"edgevision {' '.join(args)}: {r.stderr[-2000:]}"
    return r


def top1(run: Path, artifact: str, cwd: Path) -> float:
    out = run.parent / f"eval-{run.name}"
    ev("eval", artifact, "--out", str(out), "--gallery", "0", cwd=cwd)
    return json.loads((out / "card.json").read_text())["metrics"]["test"]["top1"]


def test_a_user_file_through_every_verb(tmp_path):
    require_data("mnist")
    src, elsewhere = tmp_path / "src", tmp_path / "elsewhere"
    src.mkdir()
    elsewhere.mkdir()
    (src / "user_net.py").write_text(USER_NET)
    runs = tmp_path / "runs"
    ev("train", "--model", "user_net.py:UserNet", "--model-kwargs", "in_ch=1", "classes=10", "width=32",
       "--data", "mnist", "--data.limit", "4000", "--epochs", "3", "--optimizer", "adamw", "--lr", "0.005",
       "--threads", "2", "--out", str(runs / "train"), cwd=src)
    spec = json.loads((runs / "train" / "card.json").read_text())["model"]
    assert spec["name"] == f"{(src / 'user_net.py').resolve()}:UserNet"
    assert spec["kwargs"] == {"in_ch": 1, "classes": 10, "width": 32}
    trained = top1(runs / "train", str(runs / "train"), elsewhere)
    assert trained > 0.5  # it learned from real digits

    shrink = ev("shrink", str(runs / "train"), "--macs", "0.3", "--round-to", "1", "--epochs", "1",
                "--out", str(runs / "shrink"), cwd=elsewhere)
    card = json.loads((runs / "shrink" / "card.json").read_text())
    assert 1 - card["shrink"]["macs_after"] / card["shrink"]["macs_before"] >= 0.25 or "shrink:" in shrink.stderr
    ev("quantize", str(runs / "shrink"), "--qat", "off", "--min-agreement", "0.95", "--budget-s", "0.2",
       "--out", str(runs / "quantize"),
       cwd=elsewhere)
    ev("pack", str(runs / "shrink"), "--out", str(runs / "pack"), cwd=elsewhere)
    ev("export", str(runs / "pack"), "--out", str(runs / "export"), cwd=elsewhere)
    ev("bench", str(runs / "train"), str(runs / "shrink"), str(runs / "export"), "--threads", "1",
       "--budget-s", "0.2", "--out", str(runs / "bench"), cwd=elsewhere)
    rows = json.loads((runs / "bench" / "bench.json").read_text())["rows"]
    assert {Path(r["artifact"]).parent.name for r in rows} >= {"train", "shrink", "export"}

    for name in ("shrink", "quantize", "pack", "export"):  # each artifact, reloaded in a new process
        assert top1(runs / name, str(runs / name), elsewhere) > trained - 0.15, name
