"""User-facing errors.

Anything the user can fix (a missing path, a bad recipe key, a corrupt checkpoint) raises
:class:`EdgevisionError` with a one-line message that names the file, key or value and what was
expected. The CLI prints that line and exits non-zero; the traceback is shown only with ``--debug``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class EdgevisionError(Exception):
    """An error caused by user input; its message is shown as one line without a traceback."""

    exit_code = 2


class ConfigError(EdgevisionError):
    """A recipe or option has a wrong key or an out-of-range value."""


class UndescribedError(ConfigError):
    """A foreign file (e.g. an ONNX graph without edgevision metadata) given without the description it needs once;
    a verb that reads such a file under other options can turn this into its own line."""


class DataError(EdgevisionError):
    """A dataset is missing, empty or malformed."""


class ArtifactError(EdgevisionError):
    """A model file (.pt, .evz, .onnx) is missing, corrupt or of the wrong kind."""


def suggest(name: str, choices: Iterable[str], n: int = 3) -> str:
    """Return ``" (did you mean: a, b?)"`` for the closest ``choices`` to ``name``, or ``""``."""
    close = difflib.get_close_matches(name, list(choices), n=n, cutoff=0.5)
    return f" (did you mean: {', '.join(close)}?)" if close else ""


_ADVICE = ("Check the documentation", "Please file an issue", "Re-running", "(Triggered internally")


def cause_of(err: BaseException, limit: int = 300) -> str:
    """The line of ``err``'s message that says *why*, for a one-line error.

    Libraries put the cause after a headline and before advice (torch's weights-only refusal: "Weights only load
    failed. …", then "Trying to load unsupported GLOBAL posix.system whose module posix is blocked.", then "Check
    the documentation …"), so this is the last line that is not advice — never a cut prefix of the first. A line
    longer than ``limit`` keeps its head and its tail.
    """
    lines = [s.strip() for s in str(err).splitlines() if s.strip()]
    causes = [s for s in lines if not s.startswith(_ADVICE)] or lines or [type(err).__name__]
    line = causes[-1].rsplit("WeightsUnpickler error: ", 1)[-1]
    if len(line) > limit:
        line = f"{line[:limit // 2]} … {line[-limit // 2:]}"
    return line
