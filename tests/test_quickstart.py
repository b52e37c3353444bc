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
    final = json.loads((out / "eval" / "card.json").read_text())  # the distilled, pruned, clustered, packed .evz
    assert final["metrics"]["test"]["top1"] >= train["metrics"]["test"]["top1"] - 0.03
    packed = json.loads((out / "pack" / "card.json").read_text())
    assert packed["file_bytes"] * 10 < train["file_bytes"]  # ≥ 10× smaller on disk than the teacher
    export = json.loads((out / "export" / "card.json").read_text())
    assert export["parent"].endswith(".evz")  # what gets deployed is the packed student, not the teacher
    assert [f["precision"] for f in export["files"]] == ["fp32", "int8"]
    assert elapsed < 240, f"quickstart took {elapsed:.0f} s"
