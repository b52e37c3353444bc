"""Training: one loop for training and distillation (:mod:`.trainer`), its callbacks and checkpoints, and the
``train``, ``eval`` and ``anchors`` stages (registered when this package is imported)."""

from . import anchors, evaluate, stage  # noqa: F401  (registration of the stages)
