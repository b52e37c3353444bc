"""Deployment: the export table (:mod:`.export`), ONNX and engine runtimes (:mod:`.onnx`), int8 graph quantization
(:mod:`.int8`) and the ``quantize`` stage. Importing this package registers the exporters, the ``.onnx`` artifact
loader and the stages."""

from . import export, foreign, onnx, quantize  # noqa: F401  (registration)
