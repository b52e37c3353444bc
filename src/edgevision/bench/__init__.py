"""Measurement: the profiler (params, bytes, MACs, latency, throughput, memory)."""
