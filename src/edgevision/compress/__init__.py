"""Compression stages: distillation, pruning, clustering, quantization, packing."""
