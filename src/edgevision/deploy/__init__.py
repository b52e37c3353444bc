"""Export and runtimes: ONNX export with a parity check, onnxruntime sessions."""
