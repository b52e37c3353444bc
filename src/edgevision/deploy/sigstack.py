"""A signal stack that outlives OpenVINO's compiled models (Linux).

OpenVINO's CPU plugin (2025 and later) gives the thread that compiles a model its own signal stack
(``sigaltstack``), and when that compiled model is released it restores the stack that was current when it was
made, then unmaps its own. Released out of order (made A, B; released A, B — which NNCF's int8 calibration
does), the thread is left with A's unmapped stack as its signal stack. The next signal handled on it (the
``SIGCHLD`` of a DataLoader worker, any Python signal handler) then either kills the process (``SIGSEGV`` with
``si_code = SI_KERNEL``: the kernel cannot write the signal frame) or, when that address range has been mapped
again for an array, writes the frame into live data — seen as corrupted labels from a DataLoader worker.

:func:`keep_signal_stack` installs a stack that edgevision owns and never frees, one per thread (two threads must
not share one: their signal frames would overlap). It runs right after every compile and every NNCF quantization
here: each compiled model then finds a stack that is not its own when it is released, so it restores nothing, and
the thread's signal stack stays valid.
"""

from __future__ import annotations

import ctypes
import gc
import mmap
import sys
import threading

SIZE = 1 << 18  # 256 KiB: far above MINSIGSTKSZ, even with AVX-512 / AMX register state in the frame


class _Stack(ctypes.Structure):
    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t)]


_KEPT: list[mmap.mmap] = []
_stacks = threading.local()  # per thread: .memory (the mapping, never closed) and .address


def keep_signal_stack(collect: bool = False) -> bool:
    """Make edgevision's own signal stack the calling thread's; ``collect`` first releases unreachable objects
    (compiled models a library dropped), so their out-of-order restores happen before, not after. Returns
    whether the stack was installed (False off Linux or when the call fails)."""
    if not sys.platform.startswith("linux"):
        return False
    if collect:
        gc.collect()
    if getattr(_stacks, "memory", None) is None:
        _stacks.memory = mmap.mmap(-1, SIZE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        _stacks.address = ctypes.addressof(ctypes.c_char.from_buffer(_stacks.memory))  # pins it: never closed
        _KEPT.append(_stacks.memory)  # outlives its thread: a plugin may still point a signal at it
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.sigaltstack(ctypes.byref(_Stack(_stacks.address, 0, SIZE)), None) == 0


def current() -> tuple[int, int, int]:
    """The calling thread's signal stack as ``(address, flags, size)`` (flags 2 = disabled)."""
    old = _Stack()
    ctypes.CDLL(None, use_errno=True).sigaltstack(None, ctypes.byref(old))
    return int(old.ss_sp or 0), int(old.ss_flags), int(old.ss_size)
