"""The HTML report: reads run folders only (cards, metrics, JSON results) and writes one self-contained file."""

from . import compression  # noqa: F401  (registers the compression report sections)
