"""The quickstart end to end (slow): ≥ 90 % test accuracy with a student-sized model, and a report.

The run is the session fixture ``quickstart_run`` (conftest), shared with the report's browser test.
"""

import json

import pytest


@pytest.mark.slow
def test_quickstart(quickstart_run):
    out, elapsed = quickstart_run
    assert (out / "report.html").exists()
    train = json.loads((out / "train" / "card.json").read_text())
    assert train["metrics"]["test"]["top1"] >= 0.90
    assert train["params"] < 200_000  # student-sized
    assert elapsed < 240, f"quickstart took {elapsed:.0f} s"
