"""CLI smoke test of the speed verbs, and their one-line errors."""

from __future__ import annotations

import json

from edgevision.cli import main


def test_speed_verbs_end_to_end(trained, tmp_path, capsys):
    assert main(["shrink", str(trained), "--ratio", "0.5", "--round-to", "4", "--epochs", "1",
                 "--out", str(tmp_path / "s")]) == 0
    assert "saved" in capsys.readouterr().out
    assert main(["lowrank", str(tmp_path / "s"), "--method", "dwsep", "--epochs", "0",
                 "--out", str(tmp_path / "l")]) == 0
    assert main(["quantize", str(tmp_path / "s"), "--precision", "bf16", "--out", str(tmp_path / "q")]) == 0
    assert "bf16 weight storage" in capsys.readouterr().out
    assert main(["export", str(tmp_path / "l"), "--engines", "onnxruntime,cv2", "--out", str(tmp_path / "e")]) == 0
    capsys.readouterr()
    assert main(["bench", str(tmp_path / "s"), str(tmp_path / "e"), "--engines", "onnxruntime", "--budget", "0.05",
                 "--batch", "2", "--json", "--out", str(tmp_path / "b")]) == 0
    res = json.loads(capsys.readouterr().out)
    assert len(res["rows"]) == 2 and all(r["engine"] == "onnxruntime" for r in res["rows"])


def test_speed_verbs_reject_bad_input(trained, tmp_path, capsys):
    cases = [(["shrink", str(trained), "--ratio", "0.5", "--macs", "0.5"], "exactly one of"),
             (["shrink", str(trained), "--ratio", "1.5"], "ratio"),
             (["shrink", str(trained), "--macs", "0.5", "--importance", "magic"], "importance"),
             (["quantize", str(trained), "--calibration", "median"], "calibration"),
             (["export", str(tmp_path / "missing.pt")], "no such file"),
             (["bench", str(trained), "--threads", "0"], "threads")]
    for argv, needle in cases:
        assert main([*argv, "--out", str(tmp_path / "x")]) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and needle in err and len(err.splitlines()) == 1, err
