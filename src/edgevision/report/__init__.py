"""The HTML report: reads run folders only (cards, metrics, JSON results) and writes one self-contained file.

Importing this package registers every report section (:data:`.html.SECTIONS`) and the ``report`` stage.
"""

from . import (  # noqa: F401  (registration of the report sections)
    activations,
    compression,
    detection,
    faces,
    gallery,
    lineage,
    pareto,
    search,
    segmentation,
    speed,
)
from . import distill as _distill  # noqa: F401
from .html import report

__all__ = ["report"]
