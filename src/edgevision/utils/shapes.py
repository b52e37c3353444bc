"""Parsing of shape strings such as ``3x224x224`` or ``416x416``."""

from __future__ import annotations

from ..errors import EdgevisionError


def parse_shape(text: str, ndim: int | tuple[int, ...] = (2, 3), what: str = "--input") -> tuple[int, ...]:
    """Parse ``"3x224x224"`` into ``(3, 224, 224)``; raise a one-line error naming ``what`` otherwise."""
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    parts = str(text).lower().replace("×", "x").split("x")
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        raise EdgevisionError(f"{what} {text!r}: expected integers joined by 'x', e.g. 3x224x224") from None
    if len(dims) not in allowed or any(d <= 0 for d in dims):
        want = " or ".join(f"{n} positive integers" for n in allowed)
        raise EdgevisionError(f"{what} {text!r}: expected {want} joined by 'x', e.g. 3x224x224")
    return dims
