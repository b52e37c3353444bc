"""OpenVINO's and NNCF's usage telemetry, declined for edgevision's process.

``openvino_telemetry`` (used by ``openvino.convert_model`` and by NNCF) sends usage events to Google Analytics from a
forked child process unless a consent file in ``~/intel`` says no, and it counts a missing file as consent when its
caller turns the opt-in dialog off, as NNCF does. edgevision runs offline and beside multithreaded runtimes (a fork
after LiteRT's JAX has started its threads can deadlock), so before the first import of openvino or nncf it makes
the library's consent check answer "declined" for the rest of the process: every tool that (re-)initializes the
telemetry object then has consent off, and nothing is sent or forked. Nothing is written to ``~/intel``, and the
user's own setting there is left as it is.
"""

from __future__ import annotations

import contextlib
import importlib.util
from typing import Any

_DONE = False


def decline() -> None:
    """Make ``openvino_telemetry``'s consent check return "declined" in this process (no-op when it is absent)."""
    global _DONE
    if _DONE or importlib.util.find_spec("openvino_telemetry") is None:
        return
    _DONE = True
    with contextlib.suppress(Exception):  # a telemetry library that changed shape must not stop an export
        from openvino_telemetry.main import Telemetry
        from openvino_telemetry.utils.opt_in_checker import ConsentCheckResult, OptInChecker

        OptInChecker.check = lambda self, *a, **k: ConsentCheckResult.DECLINED  # type: ignore[method-assign]
        existing: Any = Telemetry._SingletonMetaClass__single_instance  # type: ignore[attr-defined]
        if existing is not None:
            existing.consent = False
