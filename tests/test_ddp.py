"""Multi-process training: torchrun with 2 processes on the gloo backend (CPU)."""

import json
import os
import socket
import subprocess
import sys

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(300)
def test_torchrun_two_processes(tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
           str(_free_port()), "-m", "edgevision", "train", "--model", "student_cnn", "--data", "synthetic:shapes",
           "--input-size", "24", "--epochs", "2", "--batch-size", "16", "--set", "data.options.n_train=128",
           "--set", "data.options.n_val=32", "--set", "data.options.n_test=32", "--out", str(out)]
    env = {**os.environ, "EDGEVISION_PROGRESS": "0", "OMP_NUM_THREADS": "1"}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=280, env=env)
    if r.returncode != 0 and "(SIGABRT)" in r.stderr:
        # one CI run saw a gloo worker abort (0 of 28 runs here): retry once, but keep the first failure's clues
        first = [ln for ln in r.stderr.splitlines() if any(k in ln for k in ("terminate", "gloo", "Error", "abort"))]
        print("first attempt aborted:", *first[:20], sep="\n")
        cmd[cmd.index("--master_port") + 1] = str(_free_port())
        out = tmp_path / "ddp-retry"
        cmd[cmd.index("--out") + 1] = str(out)
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=280, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    card = json.loads((out / "card.json").read_text())
    assert card["world_size"] == 2 and card["status"] == "complete"
    hist = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in hist] == [1, 2]  # rank 0 alone writes the log
