"""Rich progress bars that stay quiet when output is not a terminal or on non-zero DDP ranks."""

from __future__ import annotations

import os
import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

console = Console(stderr=True)


def progress_enabled() -> bool:
    if os.environ.get("EDGEVISION_PROGRESS", "") == "0":
        return False
    if int(os.environ.get("RANK", "0")) != 0:
        return False
    return sys.stderr.isatty() or os.environ.get("EDGEVISION_PROGRESS", "") == "1"


def make_progress(*extra_fields: str) -> Progress:
    """A progress bar with count, ETA and named extra fields (e.g. ``loss``, ``metric``)."""
    cols = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            *(TextColumn(f"{f} {{task.fields[{f}]}}") for f in extra_fields),
            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn()]
    return Progress(*cols, console=console, disable=not progress_enabled(), transient=False)
