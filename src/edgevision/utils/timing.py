"""Latency measurement: warm-up, then repeated timed calls; report median (p50) and p90 in milliseconds."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def measure(fn: Callable[[], object], warmup: int = 3, min_runs: int = 10, max_runs: int = 200,
            budget_s: float = 1.5, times: bool = False) -> dict[str, float]:
    """Call ``fn`` ``warmup`` times, then time it until ``min_runs`` and ``budget_s`` are both reached.

    Returns ``{"p50_ms", "p90_ms", "mean_ms", "runs"}`` (plus ``"times_ms"``, every run, with ``times``, so
    callers can pool interleaved rounds). Quote the median: it ignores scheduler hiccups.
    """
    for _ in range(warmup):
        fn()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < max_runs and (len(times) < min_runs or time.perf_counter() - start < budget_s):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    a = np.asarray(times)
    out = {"p50_ms": float(np.median(a)), "p90_ms": float(np.percentile(a, 90)), "mean_ms": float(a.mean()),
           "runs": len(a)}
    if times:
        out["times_ms"] = a.tolist()
    return out
