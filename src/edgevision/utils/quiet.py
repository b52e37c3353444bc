"""Silence converters and native runtimes that print progress, advice and log lines: the CLI prints its own summary."""

from __future__ import annotations

import contextlib
import io
import os
import sys
import warnings
from collections.abc import Iterator


@contextlib.contextmanager
def quiet(native: bool = False) -> Iterator[None]:
    """Swallow Python-level stdout/stderr and warnings; with ``native``, also what C++ code writes to file
    descriptors 1 and 2 (restored afterwards, also on error)."""
    saved: list[tuple[int, int]] = []
    if native:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(AttributeError, OSError, ValueError):
                stream.flush()
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            for fd in (1, 2):
                saved.append((fd, os.dup(fd)))
                os.dup2(null, fd)
        finally:
            os.close(null)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for fd, copy in saved:
            os.dup2(copy, fd)
            os.close(copy)
