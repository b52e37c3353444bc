"""Compression: unstructured pruning, structured pruning, weight sharing, low-rank, distillation and the ``.evz``
codec, each a sub-package; the stage modules register their verbs when this package is imported.

- :mod:`.unstructured`: magnitude pruning (criteria, schedules, masks, sensitivity) — ``prune``, ``sensitivity``;
- :mod:`.structured`: the dependency graph, channel importance and ``shrink``;
- :mod:`.sharing`: k-means weight sharing — ``cluster``;
- :mod:`.evz`: bit I/O, Huffman, CSR, the tensor codec, the ``.evz`` container — ``pack``, ``unpack``;
- :mod:`.lowrank`: SVD / depthwise-separable factorization — ``lowrank``;
- :mod:`.distill`: knowledge distillation — ``distill``;
- :mod:`.finetune`: the one fine-tuning path every compression stage uses.
"""

from .distill import distill
from .evz.pack import pack, unpack
from .lowrank import lowrank
from .sharing.cluster import cluster
from .structured.shrink import shrink
from .unstructured.prune import prune
from .unstructured.sensitivity import sensitivity

__all__ = ["cluster", "distill", "lowrank", "pack", "prune", "sensitivity", "shrink", "unpack"]
