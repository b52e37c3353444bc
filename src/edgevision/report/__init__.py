"""The HTML report: reads run folders only (cards, metrics, JSON results) and writes one self-contained file."""
