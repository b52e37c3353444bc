import pytest

from edgevision.errors import EdgevisionError
from edgevision.registry import Registry


def test_register_get_and_list():
    r = Registry("thing")
    r.register("b", 2)

    @r.register("a", tag="x")
    def a():
        return 1

    assert r.get("a") is a and r.get("b") == 2
    assert r.names() == ["a", "b"] and len(r) == 2 and "a" in r
    assert r.entry("a").meta == {"tag": "x"}


def test_duplicate_raises():
    r = Registry("thing")
    r.register("a", 1)
    with pytest.raises(ValueError, match="duplicate thing 'a'"):
        r.register("a", 2)


def test_unknown_name_suggests_close_matches():
    r = Registry("model")
    r.register("squeezenet1_0", 1)
    r.register("squeezenet1_1", 2)
    with pytest.raises(EdgevisionError, match=r"unknown model 'squeezenet1_2' \(did you mean: squeezenet1_"):
        r.get("squeezenet1_2")
