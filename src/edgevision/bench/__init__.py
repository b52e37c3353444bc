"""Measurement: the profiler (params, bytes, MACs, latency, throughput, memory) and the ``bench`` table.
Importing this package registers the ``profile`` and ``bench`` stages."""

from . import bench, profile  # noqa: F401  (registration of the stages)
