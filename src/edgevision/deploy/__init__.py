"""Deployment: the export table (:mod:`.export`), ONNX and engine runtimes (:mod:`.onnx`), int8 graph quantization
(:mod:`.int8`) and the ``quantize`` stage. Importing this package registers the exporters, the artifact loaders of
``.onnx``, ``.xml`` (OpenVINO IR, :mod:`.openvino`), ``.tflite`` (:mod:`.litert_runtime`), ``.pte``
(:mod:`.executorch`) and ``.param`` (ncnn, :mod:`.ncnn`), the on-device runtimes (:mod:`.runtimes`) and the
stages."""

from . import (  # noqa: F401  (registration)
    best,
    executorch,
    export,
    foreign,
    litert,
    litert_runtime,
    ncnn,
    onnx,
    openvino,
    ov_export,
    quantize,
)
