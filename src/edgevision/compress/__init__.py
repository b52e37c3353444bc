"""Compression: structured pruning (shrink), quantization, low-rank factorization, and fine-tuning helpers."""
