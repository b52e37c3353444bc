"""Latency measurement: warm-up, then repeated timed calls; report median (p50) and p90 in milliseconds.

:func:`interleaved` compares several callables fairly: every round times each of them for a slice, so load on
a shared machine hits all alike, and rounds are added until the speed ratios are stable. The ratio of two
pooled medians is quoted with the spread of the per-round ratios and the standard error of their median,
``se = 1.2533 · σ / √n`` (the asymptotic efficiency of the median, Kenney & Keeping 1962), so a reader knows
how far a second run may land. :class:`Phases` records where a long command spends its time.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

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


def ratio_stats(base_rounds: list[float], rounds: list[float]) -> dict[str, float]:
    """Per-round speed ratios ``base / other`` (of the round medians): median, min, max and the relative standard
    error of the median, ``1.2533 · σ / (√n · median)``."""
    r = np.asarray(base_rounds, float) / np.maximum(np.asarray(rounds, float), 1e-12)
    med = float(np.median(r))
    se = float(1.2533 * r.std(ddof=1) / np.sqrt(len(r)) / med) if len(r) > 1 and med > 0 else float("inf")
    return {"median": round(med, 4), "min": round(float(r.min()), 4), "max": round(float(r.max()), 4),
            "rel_se": round(se, 4)}


def interleaved(fns: dict[str, Callable[[], object]], *, baseline: str | None = None, min_rounds: int = 7,
                max_rounds: int = 30, round_s: float = 0.1, warmup: int = 3, target: float = 0.01
                ) -> dict[str, Any]:
    """Time each callable in interleaved rounds (``round_s`` seconds each per round, at least 3 runs) until every
    ratio against ``baseline`` (default: the first) has a relative standard error ≤ ``target`` (so two runs agree
    within about 2·1.96·target), after at least ``min_rounds`` and at most ``max_rounds`` rounds.

    Returns ``{"rounds", "stable", "latency": {name: {p50_ms, p90_ms, runs}}, "speedup": {name: ratio},
    "spread": {name: ratio_stats}}``; ``speedup`` is baseline p50 / p50 of the pooled runs.
    """
    names = list(fns)
    base = baseline or names[0]
    for f in fns.values():
        for _ in range(warmup):
            f()
    pooled: dict[str, list[float]] = {k: [] for k in names}
    per_round: dict[str, list[float]] = {k: [] for k in names}
    stable = False
    for n in range(1, max_rounds + 1):
        for k in names:
            t = measure(fns[k], warmup=0, min_runs=3, budget_s=round_s, times=True)["times_ms"]
            pooled[k] += t
            per_round[k].append(float(np.median(t)))
        if n >= min_rounds:
            stats = {k: ratio_stats(per_round[base], per_round[k]) for k in names if k != base}
            if all(s["rel_se"] <= target for s in stats.values()):
                stable = True
                break
    lat = {k: {"p50_ms": round(float(np.median(v)), 4), "p90_ms": round(float(np.percentile(v, 90)), 4),
               "runs": len(v)} for k, v in pooled.items()}
    return {"rounds": len(per_round[base]), "stable": stable, "latency": lat,
            "speedup": {k: round(lat[base]["p50_ms"] / lat[k]["p50_ms"], 4) for k in names},
            "spread": {k: ratio_stats(per_round[base], per_round[k]) for k in names if k != base}}


class Phases:
    """Wall time per named phase of a long command: ``with phases("calibrate"): ...``; :meth:`line` says it."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.start = time.perf_counter()

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0

    def as_dict(self) -> dict[str, float]:
        return {**{k: round(v, 2) for k, v in self.seconds.items()}, "total": round(self.total(), 2)}

    def total(self) -> float:
        return time.perf_counter() - self.start

    def line(self, verb: str) -> str:
        """``quantize: 12.3 s (export 0.4 s, calibrate 5.1 s, …)``."""
        parts = ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items())
        return f"{verb}: {self.total():.1f} s ({parts})"
