"""Small TFLite flatbuffers written with LiteRT's own schema (``ai_edge_litert.schema_py_generated``), so that tests
of the LiteRT paths need the interpreter only, not a converter."""

from __future__ import annotations

import numpy as np


def _parts():
    from ai_edge_litert import schema_py_generated as s

    def buf(a=None):
        x = s.BufferT()
        if a is not None:
            x.data = np.frombuffer(np.ascontiguousarray(a).tobytes(), np.uint8)
        return x

    def tensor(shape, index, name, kind=s.TensorType.FLOAT32):
        t = s.TensorT()
        t.shape, t.type, t.buffer, t.name = list(shape), kind, index, name
        return t

    def code(op):
        c = s.OperatorCodeT()
        c.builtinCode, c.deprecatedBuiltinCode, c.version = op, min(op, 127), 1
        return c

    return s, buf, tensor, code


def _finish(s, tensors, operators, codes, buffers) -> bytes:
    import flatbuffers

    g = s.SubGraphT()
    g.tensors, g.inputs, g.outputs, g.operators, g.name = tensors, [0], [len(tensors) - 1], operators, "main"
    m = s.ModelT()
    m.version, m.description, m.subgraphs, m.operatorCodes, m.buffers = 3, "test", [g], codes, buffers
    fb = flatbuffers.Builder(1024)
    fb.Finish(m.Pack(fb), file_identifier=b"TFL3")
    return bytes(fb.Output())


def linear_classifier_tflite(w: np.ndarray, b: np.ndarray, chw: tuple[int, int, int]) -> bytes:
    """(1, C, H, W) float32 → RESHAPE (1, C·H·W) → FULLY_CONNECTED (weights (K, C·H·W), bias (K,)) → logits (1, K):
    the graph of ``hinton_mlp(hidden=[])``, NCHW input as edgevision's exports take it."""
    s, buf, tensor, code = _parts()
    k, n = w.shape
    reshape, fc = s.OperatorT(), s.OperatorT()
    ropt = s.ReshapeOptionsT()
    ropt.newShape = [1, n]
    reshape.opcodeIndex, reshape.inputs, reshape.outputs = 0, [0, 1], [2]
    reshape.builtinOptionsType, reshape.builtinOptions = s.BuiltinOptions.ReshapeOptions, ropt
    fopt = s.FullyConnectedOptionsT()
    fc.opcodeIndex, fc.inputs, fc.outputs = 1, [2, 3, 4], [5]
    fc.builtinOptionsType, fc.builtinOptions = s.BuiltinOptions.FullyConnectedOptions, fopt
    tensors = [tensor((1, *chw), 1, "input"), tensor((2,), 2, "shape", s.TensorType.INT32),
               tensor((1, n), 3, "flat"), tensor((k, n), 4, "w"), tensor((k,), 5, "b"), tensor((1, k), 6, "logits")]
    buffers = [buf(), buf(), buf(np.array([1, n], np.int32)), buf(), buf(w.astype(np.float32)),
               buf(b.astype(np.float32)), buf()]
    return _finish(s, tensors, [reshape, fc], [code(s.BuiltinOperator.RESHAPE),
                                               code(s.BuiltinOperator.FULLY_CONNECTED)], buffers)


def int8_input_tflite(hw: tuple[int, int], channels: int, scale: float | None, zero_point: int = 0) -> bytes:
    """(1, H, W, C) int8 with ``(scale, zero_point)`` → DEQUANTIZE → (1, H, W, C) float32: a quantized-input graph
    whose output is its input as the file reads it, ``s (q − z)``; with ``scale`` None, a raw int8 input → CAST."""
    s, buf, tensor, code = _parts()
    q = tensor((1, *hw, channels), 1, "input", s.TensorType.INT8)
    if scale is not None:
        q.quantization = s.QuantizationParametersT()
        q.quantization.scale, q.quantization.zeroPoint = [scale], [zero_point]
    op = s.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0], [1]
    kind = s.BuiltinOperator.DEQUANTIZE if scale is not None else s.BuiltinOperator.CAST
    return _finish(s, [q, tensor((1, *hw, channels), 2, "output")], [op], [code(kind)], [buf(), buf(), buf()])
