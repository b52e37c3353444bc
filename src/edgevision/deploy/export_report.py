"""What an export reports: why a file was rejected, the card's test metrics, the one line of ``--format best``."""

from __future__ import annotations

from typing import Any


def rejection_reason(f: dict[str, Any]) -> str:
    """Why a file was rejected: its converter's refusal, or its first failing engine with the rule it missed."""
    if "build_error" in f:
        return str(f["build_error"])
    eng = next(e for e in f["engines"] if not f[e]["pass"])
    r = f[eng]
    return r.get("error") or f"{eng}: {r['metric']} {r[r['metric']]:.4g} vs threshold {r['threshold']:g}"


def best_rejections(report: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The candidates ``--format best`` rejected (parity, accuracy or a converter's refusal), each with its reason."""
    keys = ("file", "format", "precision", "engine", "bytes")
    return [{**{k: c[k] for k in keys if k in c}, "reason": c["rejected"]} for c in (report or {}).get("candidates", [])
            if "rejected" in c]


def card_metrics(passed: list[dict[str, Any]], rejected: list[dict[str, Any]], best: dict[str, Any] | None
                 ) -> dict[str, Any]:
    """The test metric the export measured of the files it kept, as other stages' cards hold it: ``test`` (the main
    file's primary metric), ``fp32_test`` and ``drop_points`` against fp32, and ``files`` (each kept file's)."""
    if best is not None:
        return _best_metrics(best)
    test = next((r["test"] for f in passed + rejected for e in f["engines"] if "test" in (r := f.get(e) or {})), None)
    if test is None:
        return {}
    metric, main = test["metric"], passed[-1]
    files = {f["file"]: {metric: test[f["precision"]]} for f in passed if f["precision"] in test}
    if main["file"] not in files:
        return {"files": files} if files else {}
    value = test[main["precision"]]
    return {"test": {metric: value}, "fp32_test": {metric: test["fp32"]},
            "drop_points": round(100 * (test["fp32"] - value), 4), "files": files}


def _best_metrics(best: dict[str, Any]) -> dict[str, Any]:
    """``--format best``: the winner's metric on the test split against the torch fp32 model's."""
    win = next(c for c in best["candidates"] if c["file"] == best["winner"])
    ref = best.get("reference")
    if ref is None or "metric" not in win:
        return {}
    return {"test": {win["metric"]: win["value"]}, "fp32_test": {ref["metric"]: ref["value"]},
            "drop_points": win["drop_points"], "files": {win["file"]: {win["metric"]: win["value"]}}}


def best_line(report: dict[str, Any]) -> str:
    """One line: the winner of ``--format best``, by how much, and how many candidates were rejected."""
    rej = [c for c in report["candidates"] if "rejected" in c]
    vs = f", {report['vs_ort_fp32']:.2f}× onnxruntime fp32" if report.get("vs_ort_fp32") else ""
    up = f", {report['vs_runner_up']:.2f}× the runner-up {report['runner_up']}" if report.get("runner_up") else ""
    why = "".join(f"\n  rejected {c['file']} ({c['engine']}): {c['rejected']}" for c in rej)
    return (f"best: {report['winner']} ({report['engine']} {report['precision']}, {report['p50_ms']:.3f} ms at batch 1 "
            f"on {report['threads']} thread(s){vs}{up}); {len(rej)} of {len(report['candidates'])} candidates "
            f"rejected{why}")
