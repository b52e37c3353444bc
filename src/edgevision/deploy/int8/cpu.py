"""Whether int8 weights need 7 bits on this CPU: onnxruntime's x86 kernels without VNNI saturate.

On x86 without VNNI (AVX2, AVX-512 before Cascade Lake), onnxruntime multiplies uint8 activations by int8
weights with ``vpmaddubsw``, which adds each pair of products into a *saturating* int16:
``a₁·w₁ + a₂·w₂`` reaches 2·255·127 = 64,770 > 32,767, so large activations meeting large weights are clipped
and the int8 model's outputs drift (measured: top-1 agreement with fp32 fell to 0.09 on a small CNN whose
un-fused QDQ graph agreed on 0.98). Weights in 7 bits (``reduce_range``: −64…64) bound the pair by
2·255·64 = 32,640, which fits. VNNI (``vpdpbusd``) sums in int32 and needs no such care, nor do ARM's dot
products. The choice is the target CPU's; ``auto`` assumes the target is the machine that quantizes.
"""

from __future__ import annotations

import functools
import platform
from pathlib import Path

VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


@functools.cache
def cpu_flags() -> frozenset[str] | None:
    """The CPU's feature flags from ``/proc/cpuinfo`` (None where the file does not exist, e.g. macOS)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def is_x86() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64", "i386", "i686", "x86")


def needs_reduce_range() -> bool:
    """True on an x86 CPU without VNNI (or an x86 CPU whose flags cannot be read: the safe choice)."""
    if not is_x86():
        return False
    flags = cpu_flags()
    return flags is None or not any(f in flags for f in VNNI_FLAGS)


def reduce_range(setting: str | bool | None) -> bool:
    """Resolve the ``reduce_range`` option: ``on``/``off`` (or a bool) as given, ``auto``/None from this CPU."""
    if isinstance(setting, bool):
        return setting
    if setting in (None, "auto"):
        return needs_reduce_range()
    return setting == "on"
