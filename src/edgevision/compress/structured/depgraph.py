"""The dependency graph: which channels of which layers must be pruned together (the *structure*).

Following Torch-Pruning (Fang et al. 2023, "DepGraph: Towards Any Structural Pruning"), structure, scoring
and policy are separate. This module only answers "what is coupled". It traces one forward pass
(:mod:`.trace`), gives every channel of every tensor an *atom*, and merges atoms (union-find) whenever two
channels must be the same physical channel:

- a layer's parameter channels merge with the tensor channels they read or write (conv/linear in and out,
  BatchNorm, depthwise conv, whose output channel ``i·k + j`` belongs to input channel ``i``);
- element-wise ops merge their operands (``a + b`` in a residual block makes ``a[:, c]`` and ``b[:, c]`` one
  channel); concatenation along channels lays the operands' atoms side by side (SqueezeNet's fire module);
- flattening ``(B, C, H, W) → (B, C·H·W)`` repeats each channel's atom H·W times, so a linear layer's
  H·W input columns follow their channel.

Any op not known to preserve channels, the model's inputs and outputs, and constants *pin* their atoms: a
merged set containing a pinned atom is never pruned. Each unpinned set is a :class:`Unit` (one removable
channel); units touching the same layers form a :class:`LayerGroup` (e.g. the residual stream of a stage).
"""

from __future__ import annotations

import fnmatch
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ...errors import EdgevisionError
from .layers import Layout, is_leaf, layout_of
from .trace import Op, Ref, Trace, trace_model


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


POINTWISE = _words("""
relu relu_ relu6 leaky_relu leaky_relu_ elu elu_ selu celu gelu silu mish hardtanh hardtanh_ hardswish hardsigmoid
sigmoid sigmoid_ tanh tanh_ softplus softsign logsigmoid threshold rrelu dropout dropout1d dropout2d dropout3d
alpha_dropout feature_alpha_dropout _max_pool1d _max_pool2d _max_pool3d max_pool1d max_pool2d max_pool3d
max_pool1d_with_indices max_pool2d_with_indices max_pool3d_with_indices avg_pool1d avg_pool2d avg_pool3d
adaptive_avg_pool1d adaptive_avg_pool2d adaptive_avg_pool3d adaptive_max_pool1d adaptive_max_pool2d adaptive_max_pool3d
adaptive_max_pool1d_with_indices adaptive_max_pool2d_with_indices _adaptive_max_pool1d _adaptive_max_pool2d
lp_pool1d lp_pool2d max_unpool1d max_unpool2d max_unpool3d interpolate upsample upsample_nearest upsample_bilinear
clone contiguous detach float half bfloat16 to type_as abs neg exp log sqrt rsqrt square pow clamp clamp_ clip
clamp_min clamp_max sign floor ceil round reciprocal erf sin cos
add add_ sub sub_ mul mul_ div div_ true_divide maximum minimum fmax fmin where lerp
__add__ __iadd__ __radd__ __sub__ __isub__ __rsub__ __mul__ __imul__ __rmul__ __truediv__ __itruediv__
__rtruediv__ __neg__ __abs__ __pow__
""")
RESHAPE = _words("view reshape flatten squeeze unsqueeze unflatten view_as reshape_as expand expand_as")
REDUCE = _words("mean sum amax amin max min std var norm logsumexp prod")
CONCAT = _words("cat concat concatenate")
SOFTMAX = _words("softmax log_softmax")


class UnionFind:
    def __init__(self) -> None:
        self.parent: list[int] = []

    def new(self, n: int) -> np.ndarray:
        start = len(self.parent)
        self.parent.extend(range(start, start + n))
        return np.arange(start, start + n)

    def find(self, a: int) -> int:
        p = self.parent
        while p[a] != a:
            p[a] = p[p[a]]
            a = p[a]
        return a

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


@dataclass
class Unit:
    """One removable channel: the indices it owns in each (layer path, role)."""

    root: int
    members: dict[tuple[str, str], list[int]]


@dataclass
class LayerGroup:
    """Units that touch the same layers; pruning policy (ratio, ``round_to``) applies per group."""

    name: str
    signature: tuple[tuple[str, str], ...]
    units: list[Unit]
    per_unit: dict[tuple[str, str], int] = field(default_factory=dict)  # indices one unit owns per member

    def __len__(self) -> int:
        return len(self.units)


@dataclass
class DependencyGraph:
    model: nn.Module
    input_shape: tuple[int, ...]
    layouts: dict[str, Layout]
    groups: list[LayerGroup]
    pinned_units: int
    layer_macs: dict[str, int]  # MACs of each dense/depthwise layer at batch 1 (all calls)
    pinned_by: dict[str, int] = field(default_factory=dict)  # op label -> how many such ops pinned their channels

    def describe(self) -> list[dict[str, Any]]:
        return [{"group": g.name, "channels": len(g), "layers": sorted({p for p, _ in g.signature})}
                for g in self.groups]


class _Builder:
    """Walks the trace once, assigning atoms and merging them."""

    def __init__(self, trace: Trace, layouts: dict[str, Layout]) -> None:
        self.trace, self.layouts = trace, layouts
        self.uf = UnionFind()
        self.chan: dict[int, np.ndarray] = {}  # tensor key -> atom per index of dim 1
        self.pinned: list[int] = []
        self.params: dict[tuple[str, str], np.ndarray] = {}  # (layer path, role) -> atom per channel
        self.blocked: set[str] = set()
        self.pinned_by: Counter[str] = Counter()

    # ------------------------------------------------------------------ atoms
    def ndim(self, key: int) -> int:
        return len(self.trace.shapes[key])

    def atoms(self, key: int) -> np.ndarray | None:
        """Atoms of dim 1 of tensor ``key`` (None for tensors of rank < 2); constants get pinned atoms."""
        if key not in self.chan:
            shape = self.trace.shapes[key]
            if len(shape) < 2:
                return None
            self.chan[key] = self.uf.new(shape[1])
            self.pin(self.chan[key])
        return self.chan[key]

    def pin(self, atoms: np.ndarray | None) -> None:
        if atoms is not None:
            self.pinned.extend(int(a) for a in atoms)

    def unite(self, a: np.ndarray, b: np.ndarray) -> None:
        for x, y in zip(a.tolist(), b.tolist()):
            self.uf.union(x, y)

    def param(self, path: str, role: str, n: int) -> np.ndarray:
        if (path, role) not in self.params:
            self.params[(path, role)] = self.uf.new(n)
        return self.params[(path, role)]

    def pin_op(self, op: Op) -> None:
        """Unknown semantics: every channel the op reads or writes stays (counted under the op's label)."""
        touched = False
        for k in op.inputs + op.outputs:
            atoms = self.atoms(k)
            touched |= atoms is not None
            self.pin(atoms)
        if touched:
            self.pinned_by[op_label(op)] += 1

    # ------------------------------------------------------------------ walk
    def run(self) -> None:
        for k in self.trace.inputs:
            self.pin(self.atoms(k))
        for op in self.trace.ops:
            if op.kind == "module":
                self.on_module(op)
            else:
                self.on_function(op)
        for k in self.trace.outputs:
            self.pin(self.atoms(k))
        for path in self.blocked:
            for (p, _), atoms in self.params.items():
                if p == path:
                    self.pin(atoms)

    def on_module(self, op: Op) -> None:
        lay = self.layouts.get(op.name)
        ins = op.inputs
        ok = lay is not None and len(ins) == 1 and len(op.outputs) == 1 and self.ndim(ins[0]) >= 2
        if ok and lay.last_dim and self.ndim(ins[0]) != 2:
            ok = False
        x = self.atoms(ins[0]) if ins else None
        if ok and lay.n_in and x is not None and len(x) != lay.n_in:
            ok = False
        if not ok:
            self.blocked.add(op.name)
            self.pin_op(op)
            return
        y = op.outputs[0]
        if lay.kind == "dense":
            self.unite(self.param(op.name, "in", lay.n_in), x)
            self.chan[y] = self.param(op.name, "out", lay.n_out)
        elif lay.roles:
            self.unite(self.param(op.name, "ch", lay.n_in), x)
            self.chan[y] = np.repeat(x, lay.mult)
        else:
            self.chan[y] = x

    def on_function(self, op: Op) -> None:
        name = op.name
        if name in POINTWISE:
            self.pointwise(op)
        elif name in CONCAT:
            self.concat(op)
        elif name in RESHAPE:
            self.reshape(op)
        elif name in REDUCE:
            self.reduce(op)
        elif name in SOFTMAX:
            self.keep_dims(op, _arg(op, 1, "dim"))
        elif name in ("transpose", "swapaxes"):
            self.keep_dims(op, (_arg(op, 1, "dim0"), _arg(op, 2, "dim1")))
        elif name == "permute":
            dims = _dims(op.args[1:]) if len(op.args) > 1 else _arg(op, 1, "dims")
            self.same_if(op, list(dims)[:2] == [0, 1])
        elif name == "__getitem__":
            self.getitem(op)
        elif name == "pad":
            pad = _arg(op, 1, "pad")
            self.same_if(op, pad is not None and len(pad) <= 2 * (self.ndim(op.inputs[0]) - 2))
        else:
            self.pin_op(op)

    # ------------------------------------------------------------------ rules
    def pointwise(self, op: Op) -> None:
        """Element-wise with broadcasting: operands whose dim 1 lines up with the output's are merged."""
        out_shape = self.trace.shapes[op.outputs[0]]
        n = len(out_shape)
        if n < 2:
            self.pin_op(op)
            return
        merged: np.ndarray | None = None
        for k in op.inputs:
            shape = self.trace.shapes[k]
            d = 1 - (n - len(shape))  # operand dim aligned with the output's dim 1
            if d < 0 or (shape[d] == 1 and out_shape[1] != 1):
                continue  # broadcast along channels: no coupling
            a = self.atoms(k) if d == 1 else self._pinned_fresh(shape[d])
            if merged is None:
                merged = a
            else:
                self.unite(merged, a)
        if merged is None or len(merged) != out_shape[1]:
            self.pin_op(op)
            return
        for k in op.outputs:
            if self.trace.shapes[k][:2] == out_shape[:2]:
                self.chan[k] = merged
            else:
                self.pin(self.atoms(k))

    def _pinned_fresh(self, n: int) -> np.ndarray:
        a = self.uf.new(n)
        self.pin(a)
        return a

    def concat(self, op: Op) -> None:
        tensors = [a.key for a in (op.args[0] if op.args else op.kwargs.get("tensors", []))]
        dim = _arg(op, 1, "dim", 0)
        n = self.ndim(op.outputs[0])
        dim = dim % n if n else 0
        lists = [self.atoms(k) for k in tensors]
        if n < 2 or any(a is None for a in lists):
            self.pin_op(op)
        elif dim == 1:
            self.chan[op.outputs[0]] = np.concatenate(lists)
        else:
            for a in lists[1:]:
                self.unite(lists[0], a)
            self.chan[op.outputs[0]] = lists[0]

    def reshape(self, op: Op) -> None:
        """Keeping dims 0 and 1 preserves channels; (B, C, *S) → (B, C·∏S) repeats each channel ∏S times."""
        src, dst = self.trace.shapes[op.inputs[0]], self.trace.shapes[op.outputs[0]]
        x = self.atoms(op.inputs[0])
        if x is not None and len(dst) >= 2 and dst[:2] == src[:2]:
            self.chan[op.outputs[0]] = x
        elif x is not None and len(dst) == 2 and dst[0] == src[0] and dst[1] == int(np.prod(src[1:])):
            self.chan[op.outputs[0]] = np.repeat(x, int(np.prod(src[2:])))
        else:
            self.pin_op(op)

    def reduce(self, op: Op) -> None:
        dims = _arg(op, 1, "dim")
        n = self.ndim(op.inputs[0])
        if dims is None or isinstance(dims, Ref):
            self.pin_op(op)
            return
        dims = {d % n for d in (dims if isinstance(dims, list | tuple) else [dims])}
        self.same_if(op, not dims & {0, 1})

    def keep_dims(self, op: Op, dims: Any) -> None:
        n = self.ndim(op.inputs[0])
        dims = dims if isinstance(dims, tuple | list) else (dims,)
        self.same_if(op, all(isinstance(d, int) and d % n not in (0, 1) for d in dims))

    def getitem(self, op: Op) -> None:
        key = op.args[1] if len(op.args) > 1 else None
        full = slice(None)
        ok = isinstance(key, tuple) and len(key) >= 2 and key[0] == full and key[1] == full
        self.same_if(op, ok and not any(isinstance(k, Ref) for k in key))

    def same_if(self, op: Op, ok: bool) -> None:
        """Outputs keep the first input's channels when ``ok`` and dims 0-1 are unchanged; otherwise pin."""
        src = self.trace.shapes[op.inputs[0]] if op.inputs else ()
        x = self.atoms(op.inputs[0]) if op.inputs else None
        if not ok or x is None:
            self.pin_op(op)
            return
        for k in op.outputs:
            if self.trace.shapes[k][:2] == src[:2]:
                self.chan[k] = x
            else:
                self.pin(self.atoms(k))
        for k in op.inputs[1:]:
            self.pin(self.atoms(k))

    # ------------------------------------------------------------------ groups
    def groups(self) -> tuple[list[LayerGroup], int]:
        pinned_roots = {self.uf.find(a) for a in self.pinned}
        units: dict[int, Unit] = {}
        for (path, role), atoms in self.params.items():
            for i, a in enumerate(atoms.tolist()):
                r = self.uf.find(a)
                u = units.setdefault(r, Unit(r, {}))
                u.members.setdefault((path, role), []).append(i)
        free = [u for r, u in units.items() if r not in pinned_roots]
        by_sig: dict[tuple, list[Unit]] = {}
        for u in free:
            by_sig.setdefault(tuple(sorted(u.members)), []).append(u)
        out = []
        for sig, us in by_sig.items():
            us.sort(key=lambda u: min(min(ix) for ix in u.members.values()))
            per_unit = {m: len(us[0].members[m]) for m in sig}
            out.append(LayerGroup(_group_name(sig, self.layouts), sig, us, per_unit))
        out.sort(key=lambda g: _order(g.name, self.layouts))
        return out, len(units) - len(free)


def _group_name(sig: tuple[tuple[str, str], ...], layouts: dict[str, Layout]) -> str:
    """Name a group after its first producing layer (a dense layer's output), in model order."""
    for role in ("out", "ch", "in"):
        paths = sorted((p for p, r in sig if r == role), key=lambda p: _order(p, layouts))
        if paths:
            return paths[0]
    return sig[0][0]


def _order(path: str, layouts: dict[str, Layout]) -> int:
    return list(layouts).index(path) if path in layouts else len(layouts)


def _arg(op: Op, pos: int, name: str, default: Any = None) -> Any:
    if len(op.args) > pos:
        return op.args[pos]
    return op.kwargs.get(name, default)


def _dims(args: tuple) -> tuple:
    return tuple(args[0]) if len(args) == 1 and isinstance(args[0], list | tuple) else tuple(args)


def layer_macs(trace: Trace, layouts: dict[str, Layout]) -> dict[str, int]:
    """MACs per batch-1 sample of every dense/depthwise layer call, summed per layer (bias adds not counted)."""
    macs: dict[str, int] = {}
    for op in trace.ops:
        if op.kind != "module" or op.name not in layouts or not op.inputs:
            continue
        m, x, y = op.module, trace.shapes[op.inputs[0]], trace.shapes[op.outputs[0]]
        if isinstance(m, nn.Linear):
            n = int(np.prod(y)) // max(1, y[0]) * m.in_features
        elif isinstance(m, nn.modules.conv._ConvNd):
            w = m.weight.shape
            if m.transposed:  # every input pixel scatters into out/groups channels × kernel
                n = int(np.prod(x)) // max(1, x[0]) * int(np.prod(w[1:]))
            else:
                n = int(np.prod(y)) // max(1, y[0]) * int(np.prod(w[1:]))
        else:
            continue
        macs[op.name] = macs.get(op.name, 0) + n
    return macs


def build_graph(model: nn.Module, input_shape: tuple[int, ...], ignore: list[str] | tuple[str, ...] = ()
                ) -> DependencyGraph:
    """Trace ``model`` at batch 2 on ``input_shape`` = (C, H, W) and group its coupled channels.

    ``ignore`` holds glob patterns of layer paths whose channels must not be pruned (e.g. ``"head.*"``).
    """
    example = torch.randn(2, *input_shape, generator=torch.Generator().manual_seed(0))
    try:
        trace = trace_model(model, example, is_leaf)
    except Exception as e:
        raise EdgevisionError(f"cannot trace the model on input {'x'.join(map(str, input_shape))} for structured "
                              f"pruning: {type(e).__name__}: {str(e).splitlines()[0][:200]}") from None
    layouts = {}
    for path, m in model.named_modules():
        if path and is_leaf(m) and (lay := layout_of(m)) is not None:
            layouts[path] = lay
    b = _Builder(trace, layouts)
    b.run()
    for (path, _), atoms in b.params.items():
        if any(fnmatch.fnmatchcase(path, pat) for pat in ignore):
            b.pin(atoms)
    groups, pinned = b.groups()
    return DependencyGraph(model, tuple(input_shape), layouts, groups, pinned, layer_macs(trace, layouts),
                           dict(b.pinned_by.most_common()))


def op_label(op: Op) -> str:
    """What an op is, for messages: a module's class (a grouped conv with its groups) or a function's name."""
    if op.kind != "module" or op.module is None:
        return op.name
    m, name = op.module, type(op.module).__name__
    groups = getattr(m, "groups", 1)
    if isinstance(m, nn.modules.conv._ConvNd) and groups not in (1, m.in_channels):
        return f"{name} (groups={groups})"
    return name
