"""One meaning of ``threads`` for every verb that computes: torch's intra-op threads and OpenCV's, for the
duration of the stage (restored afterwards). ``bench`` takes a list (one measurement per count)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def compute_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch and OpenCV threads (``None``: leave them as they are)."""
    if n is None:
        yield
        return
    import cv2

    prev_t, prev_c = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(n)
    cv2.setNumThreads(n)
    try:
        yield
    finally:
        torch.set_num_threads(prev_t)
        cv2.setNumThreads(prev_c)
