"""Capture the dataflow of one real forward pass: which ops read and wrote which tensors.

Structured pruning needs to know how channels flow through a model (residual adds, concatenations,
flattening into a linear layer). Instead of symbolic tracing (``torch.fx``, which fails on data- or
shape-dependent Python control flow), this runs the model once on a real input under a
``TorchFunctionMode`` and records every torch function call, while forward hooks turn each *leaf* module
(a module whose parameters the pruner knows how to slice) into a single record. Any Python control flow
simply executes, so any model that runs can be traced.

Tensors are identified by object identity plus a version counter, so in-place ops (``relu_``, ``+=``)
produce a new version of the same object.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten, tree_map


@dataclass(frozen=True)
class Ref:
    """A placeholder for a traced tensor inside recorded args: ``key`` indexes :attr:`Trace.shapes`."""

    key: int


@dataclass
class Op:
    """One recorded call: a leaf module (``kind='module'``) or a torch function (``kind='function'``)."""

    kind: str
    name: str  # module path, or the function's __name__ (e.g. "cat", "__add__", "relu")
    args: tuple[Any, ...]  # tensors replaced by Ref
    kwargs: dict[str, Any]
    outputs: list[int]  # keys of the tensor outputs, in pytree order
    module: nn.Module | None = None

    @property
    def inputs(self) -> list[int]:
        leaves, _ = tree_flatten((self.args, self.kwargs))
        return [a.key for a in leaves if isinstance(a, Ref)]


@dataclass
class Trace:
    """The recorded ops in execution order, the shape of every tensor version, and the model's I/O keys."""

    ops: list[Op] = field(default_factory=list)
    shapes: dict[int, tuple[int, ...]] = field(default_factory=dict)
    inputs: list[int] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)
    constants: set[int] = field(default_factory=set)  # tensors that no op produced (parameters, buffers, literals)


class _Recorder(TorchFunctionMode):
    def __init__(self, trace: Trace) -> None:
        super().__init__()
        self.trace = trace
        self.keys: dict[int, int] = {}  # id(tensor) -> current key
        self.alive: list[torch.Tensor] = []  # keep traced tensors alive so ids are not reused
        self.depth = 0  # > 0 while inside a leaf module
        self.pending: tuple[Any, ...] = ()  # input refs of the leaf module being run

    def key(self, t: torch.Tensor) -> int:
        """The current key of ``t``; a tensor seen for the first time is a constant."""
        k = self.keys.get(id(t))
        if k is None:
            k = self.new_key(t)
            self.trace.constants.add(k)
        return k

    def new_key(self, t: torch.Tensor) -> int:
        k = len(self.trace.shapes)
        self.trace.shapes[k] = tuple(t.shape)
        self.keys[id(t)] = k
        self.alive.append(t)
        return k

    def refs(self, obj: Any) -> Any:
        return tree_map(lambda a: Ref(self.key(a)) if isinstance(a, torch.Tensor) else a, obj)

    def record(self, kind: str, name: str, args: Any, kwargs: Any, out: Any, module: nn.Module | None = None) -> None:
        a, kw = self.refs(tuple(args)), self.refs(dict(kwargs or {}))
        leaves, _ = tree_flatten(out)
        outs = [self.new_key(t) for t in leaves if isinstance(t, torch.Tensor)]
        if outs:
            self.trace.ops.append(Op(kind, name, a, kw, outs, module))

    def __torch_function__(self, func: Callable, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.depth == 0:
            name = getattr(func, "__name__", None) or repr(func)
            if name == "__get__":  # Tensor.shape / .T / .data accessors: name them after the property
                name = getattr(getattr(func, "__self__", None), "__name__", name)
            self.record("function", name, args, kwargs, out)
        return out


def trace_model(model: nn.Module, example: torch.Tensor, is_leaf: Callable[[nn.Module], bool]) -> Trace:
    """Run ``model(example)`` once (eval mode, no grad) and return its :class:`Trace`.

    Modules for which ``is_leaf`` is true are recorded as one op each (named by their path); the torch
    functions they call internally are not recorded. The model's training flag is restored afterwards and
    no state is changed (BatchNorm statistics are not updated in eval mode).
    """
    trace = Trace()
    rec = _Recorder(trace)
    handles = []
    for path, m in model.named_modules():
        if path and is_leaf(m):
            handles.append(m.register_forward_pre_hook(_enter(rec)))
            handles.append(m.register_forward_hook(_leave(rec, path)))
    was = model.training
    model.eval()
    try:
        with torch.no_grad(), rec:
            trace.inputs = [rec.new_key(example)]
            out = model(example)
            leaves, _ = tree_flatten(out)
            trace.outputs = [rec.key(t) for t in leaves if isinstance(t, torch.Tensor)]
    finally:
        for h in handles:
            h.remove()
        model.train(was)
    return trace


def _enter(rec: _Recorder) -> Callable:
    def hook(module: nn.Module, args: tuple) -> None:
        if rec.depth == 0:
            rec.pending = rec.refs(tuple(args))  # resolve input keys before the module runs in-place ops
        rec.depth += 1

    return hook


def _leave(rec: _Recorder, path: str) -> Callable:
    def hook(module: nn.Module, args: tuple, out: Any) -> None:
        rec.depth -= 1
        if rec.depth == 0:
            refs = rec.pending
            leaves, _ = tree_flatten(out)
            outs = [rec.new_key(t) for t in leaves if isinstance(t, torch.Tensor)]
            rec.trace.ops.append(Op("module", path, refs, {}, outs, module))

    return hook
