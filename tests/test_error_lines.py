"""Error lines keep their cause, carry no terminal escapes, and untrusted names cannot fake a line."""

from __future__ import annotations

import importlib
import os

import pytest
import torch

from edgevision.cli import main
from edgevision.errors import ArtifactError, EdgevisionError
from edgevision.faces.gallery import Gallery
from edgevision.train import checkpoint


class _Shell:
    def __reduce__(self):
        return (os.system, ("echo should-never-run",))


@pytest.fixture
def pickled_code(tmp_path):
    path = tmp_path / "model.pt"
    torch.save({"format": "edgevision.model", "version": 1, "x": _Shell()}, path)
    return path


def test_a_blocked_pickle_names_the_blocked_global(pickled_code, capsys):
    code = main(["eval", str(pickled_code)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "posix.system" in err and "blocked" in err  # the cause, not torch's headline cut at 160 characters
    with pytest.raises(ArtifactError, match=r"posix\.system"):
        checkpoint.load(pickled_code)


def test_cause_of_skips_advice_and_keeps_both_ends_of_a_long_line():
    from edgevision.errors import cause_of

    e = RuntimeError("Weights only load failed. Long headline.\n\nTrying to load unsupported GLOBAL a.b\n\n"
                     "Check the documentation of torch.load to learn more")
    assert cause_of(e) == "Trying to load unsupported GLOBAL a.b"
    long = cause_of(ValueError("x" * 500 + " the end"), limit=100)
    assert len(long) < 110 and long.endswith("the end") and long.startswith("x")
    assert cause_of(KeyError()) == "KeyError"


def test_cli_error_lines_have_no_ansi_codes(monkeypatch, capsys):
    ev = importlib.import_module("edgevision.train.evaluate")

    def boom(*a, **k):
        raise EdgevisionError("\x1b[31mbad\x1b[0m value\nsecond line \x1b]0;title\x07")

    monkeypatch.setattr(ev, "evaluate", boom)
    assert main(["eval", "x.pt"]) == 2
    err = capsys.readouterr().err
    assert err == "error: bad value second line\n"
    monkeypatch.setattr(ev, "evaluate", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("\x1b[1mboom\x1b[0m")))
    assert main(["eval", "x.pt"]) == 1
    err = capsys.readouterr().err
    assert "\x1b" not in err and "RuntimeError: boom" in err


def test_text_helpers():
    from edgevision.utils.text import one_line, printable, strip_ansi

    assert strip_ansi("\x1b[0;93mwarn\x1b[m") == "warn" and one_line("a\r\nb\tc") == "a  b c"
    assert printable("Ada Lovelace é 李") == "Ada Lovelace é 李"
    assert printable("Eve\nmodel x\x1b[2J\u202e") == "Eve\\nmodel x\\x1b[2J\\u202e"
    assert printable("a\\nb") == "a\\\\nb"  # a literal backslash-n is told apart from a newline


def test_faces_list_escapes_names_from_the_gallery(tmp_path, capsys):
    db = tmp_path / "g.db"
    with Gallery(db, "m1", 4, model_name="net\nFAKE") as g:
        g.add("Ada", torch.ones(1, 4).numpy())
        g.add("Eve\n  Mallory: 99", torch.ones(1, 4).numpy())
    assert main(["faces", "list", "--db", str(db)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[0].startswith("model net\\nFAKE (m1)")
    assert "  Ada: 1" in lines and "  Eve\\n  Mallory: 99: 1" in lines
