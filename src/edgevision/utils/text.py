"""Text that reaches a terminal: error lines without colour codes, untrusted names that cannot fake a line."""

from __future__ import annotations

import re
import unicodedata

# CSI (ESC [ … final byte), OSC (ESC ] … BEL or ESC \) and the two-byte escapes
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def strip_ansi(text: str) -> str:
    """``text`` without ANSI escape sequences (colours, cursor moves, terminal titles)."""
    return _ANSI.sub("", text)


def one_line(text: str) -> str:
    """An error message as one clean line: ANSI sequences removed, other control characters (newlines, tabs,
    carriage returns) turned into spaces."""
    return "".join(" " if unicodedata.category(c) == "Cc" else c for c in strip_ansi(text)).strip()


def printable(text: str) -> str:
    """An untrusted name (a gallery entry, a file name) shown on one line exactly as stored: control and format
    characters (``\\n``, ``\\r``, ESC, bidi overrides) and the backslash are escaped, everything else — accents,
    CJK, emoji — is kept. ``printable("Eve\\nadmin: 9")`` is ``Eve\\\\nadmin: 9``."""
    return "".join(_ESCAPES.get(c) or (_escape(c) if unicodedata.category(c)[0] == "C" else c) for c in text)


def _escape(c: str) -> str:
    n = ord(c)
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}"


def size_vs(new: int, ref: int) -> str:
    """How ``new`` bytes compare with ``ref`` bytes in words: ``"3.2× smaller than"``, ``"1.05× larger than"`` or
    ``"the same size as"`` — never "1.0× smaller" for a file that grew."""
    if new == ref or min(new, ref) <= 0:
        return "the same size as" if new == ref else "not comparable with"
    r = max(new, ref) / min(new, ref)
    return f"{r:.2f}× {'smaller' if new < ref else 'larger'} than" if r < 10 else \
        f"{r:.1f}× {'smaller' if new < ref else 'larger'} than"
