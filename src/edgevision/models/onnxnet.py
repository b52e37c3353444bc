"""A foreign ONNX file as a trainable torch model, converted by onnx2torch (the ``zoo`` extra), so the verbs that
train (``prune``, ``shrink``, ``cluster``, ``lowrank``, ``quantize --qat``) take it too.

The architecture spec records this module's factory as a model reference (:data:`REFERENCE`), the file's
absolute path and the SHA-256 of its graph (initializers included,
metadata excluded, so describing the file again does not break it): a saved model rebuilds by converting the same
file again, and a changed or missing file is one line. onnx2torch converts a fixed set of (operator, opset)
pairs; :func:`unsupported_ops` names the ones of a file it has no converter for, before anything is built.

The factory is not a built-in registry entry (it cannot be built without a file, and the registry's entries are
built with their defaults by ``edgevision models`` and the tests): :func:`register` adds it on first use.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from torch import nn

from ..errors import ConfigError
from .base import MODELS, ArchSpec, set_arch

REFERENCE = "edgevision.models.onnxnet:onnx2torch_model"  # the architecture name its specs record
EXTRA = "onnx2torch is not installed: it comes with the zoo extra (`make install-zoo`, or pip install -e '.[zoo]')"


def graph_digest(path: str | Path) -> str:
    """SHA-256 of the file's graph (nodes and weights), not of its metadata."""
    import onnx

    return hashlib.sha256(onnx.load(str(path)).graph.SerializeToString(deterministic=True)).hexdigest()


def unsupported_ops(model) -> list[str]:
    """``op (opset N)`` of every operator onnx2torch cannot convert in ``model`` (an ``onnx.ModelProto``)."""
    from onnx2torch.node_converters import get_converter

    opsets = {o.domain: o.version for o in model.opset_import}
    bad = []
    for node in model.graph.node:
        try:
            get_converter(node.op_type, opsets.get(node.domain, 1), node.domain or "")
        except NotImplementedError:
            label = f"{node.op_type} (opset {opsets.get(node.domain, 1)})"
            bad += [label] if label not in bad else []
    return bad


def inline_identities(model) -> int:
    """Replace each ``Identity`` of an initializer with a copy of it (torch.onnx.export shares equal weights that
    way; onnx2torch wants a conv's weights as initializers); returns how many were replaced."""
    import onnx

    inits = {t.name: t for t in model.graph.initializer}
    drop = [n for n in model.graph.node if n.op_type == "Identity" and n.input[0] in inits]
    for n in drop:
        copy = onnx.TensorProto()
        copy.CopyFrom(inits[n.input[0]])
        copy.name = n.output[0]
        model.graph.initializer.append(copy)
        model.graph.node.remove(n)
    return len(drop)


def onnx2torch_model(file: str, graph_sha256: str | None = None) -> nn.Module:
    """Convert ``file`` with onnx2torch; ``graph_sha256`` (recorded at the first conversion) must still match."""
    try:
        import onnx
        from onnx2torch import convert
    except ImportError:
        raise ConfigError(f"{file}: training a foreign ONNX file needs its torch form; {EXTRA}") from None
    if not Path(file).is_file():
        raise ConfigError(f"{file}: the ONNX file this model was converted from is gone (its spec rebuilds from it)")
    if graph_sha256 and graph_digest(file) != graph_sha256:
        raise ConfigError(f"{file}: its graph changed since this model was converted from it (SHA-256 mismatch)")
    model = onnx.load(str(file))
    inline_identities(model)
    if bad := unsupported_ops(model):
        raise ConfigError(f"{file}: onnx2torch cannot convert {', '.join(bad)}; re-export with opset 17 or run it "
                          f"where ONNX is enough (eval, predict, bench, quantize without QAT)")
    return convert(model).eval()


def convert_file(path: str | Path) -> nn.Module:
    """``path`` converted (its spec records :data:`REFERENCE`, the absolute path and the graph's SHA-256); the
    factory is registered only once a conversion succeeded."""
    kwargs = {"file": str(Path(path).resolve()), "graph_sha256": graph_digest(path)}
    model = onnx2torch_model(**kwargs)
    register()
    set_arch(model, ArchSpec(REFERENCE, kwargs))
    return model


def register() -> str:
    """Make :data:`REFERENCE` buildable by ``build_model`` / ``build_from_spec`` in this process; returns it."""
    if REFERENCE not in MODELS:
        MODELS.register(REFERENCE, onnx2torch_model, family="onnx", listed=False,
                        description="a foreign ONNX file converted to torch by onnx2torch (zoo extra)")
    return REFERENCE
