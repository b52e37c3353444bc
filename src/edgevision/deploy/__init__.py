"""Deployment: the export table (:mod:`.export`), ONNX and engine runtimes (:mod:`.onnx`), int8 graph quantization
(:mod:`.int8`) and the ``quantize`` stage. Importing this package registers the exporters, the ``.onnx`` and ``.xml``
(OpenVINO IR, :mod:`.openvino`) artifact loaders and the stages."""

from . import best, export, foreign, litert, litert_runtime, onnx, openvino, ov_export, quantize  # noqa: F401  (registration)
