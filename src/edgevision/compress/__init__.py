"""Compression: distillation, unstructured pruning, k-means weight sharing, Huffman coding and ``.evz``,
structured pruning (shrink), quantization, low-rank factorization, and fine-tuning helpers.

Importing this package registers the stages ``prune``, ``sensitivity``, ``cluster``, ``pack`` and ``unpack``
and the ``.evz`` artifact loader (``distill``, ``shrink``, ``quantize`` and ``lowrank`` register from their
modules).
"""

from . import evz  # noqa: F401  (registers the .evz loader)
from .cluster import cluster
from .pack import pack, unpack
from .prune import prune
from .sensitivity import sensitivity

__all__ = ["cluster", "pack", "prune", "sensitivity", "unpack"]
