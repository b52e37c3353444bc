"""The quickstart end to end (slow): ≥ 90 % test accuracy with a student-sized model, and a report."""

import json
import time

import pytest

from edgevision.cli import main


@pytest.mark.slow
def test_quickstart(tmp_path, capsys):
    t0 = time.perf_counter()
    assert main(["quickstart", "--out", str(tmp_path / "qs")]) == 0
    elapsed = time.perf_counter() - t0
    out = capsys.readouterr().out
    assert "report:" in out and (tmp_path / "qs" / "report.html").exists()
    train = json.loads((tmp_path / "qs" / "train" / "card.json").read_text())
    assert train["metrics"]["test"]["top1"] >= 0.90
    assert train["params"] < 200_000  # student-sized
    assert elapsed < 240, f"quickstart took {elapsed:.0f} s"
