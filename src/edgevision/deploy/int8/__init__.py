"""int8 graph quantization for onnxruntime: :mod:`.graph` (prepare, calibrate, QDQ quantize, per-node
sensitivity), :mod:`.stem` (keep a narrow-input stem in float when measured faster), :mod:`.concat` (shared Concat
scales), :mod:`.qat` (BatchNorm folding and fake-quantized fine-tuning)."""
