"""The HTML report: reads run folders only (cards, metrics, JSON results) and writes one self-contained file."""

from . import compression, faces, search, segmentation  # noqa: F401  (register their report sections)
