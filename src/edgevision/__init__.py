"""edgevision: make vision models small and fast enough for limited hardware, and prove it with measurements.

The public API mirrors the CLI: each verb is a function of the same name.

    >>> import edgevision as ev
    >>> res = ev.train(model="student_cnn", data={"source": "synthetic:shapes", "input_size": 32}, epochs=3)
    >>> ev.evaluate(res.artifact).metrics

Names are imported on first use (PEP 562), so ``import edgevision`` and ``edgevision --help`` do not pay for
torch, OpenCV or scikit-learn.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

from ._version import __version__  # noqa: F401  (in __all__)

_API = {  # public name → the module that defines it
    "train": "edgevision.train.stage", "evaluate": "edgevision.train.evaluate", "anchors": "edgevision.train.anchors",
    "distill": "edgevision.compress.distill", "prune": "edgevision.compress", "sensitivity": "edgevision.compress",
    "cluster": "edgevision.compress", "pack": "edgevision.compress", "unpack": "edgevision.compress",
    "shrink": "edgevision.compress", "lowrank": "edgevision.compress", "quantize": "edgevision.deploy.quantize",
    "export": "edgevision.deploy.export", "bench": "edgevision.bench.bench", "profile": "edgevision.bench.profile",
    "list_models": "edgevision.bench.profile", "predict": "edgevision.apps.predict", "demo": "edgevision.apps.demo",
    "faces_eval": "edgevision.faces", "report": "edgevision.report", "search": "edgevision.search",
    "run": "edgevision.recipe", "quickstart": "edgevision.recipe", "listing": "edgevision.listing",
    "Artifact": "edgevision.artifacts", "load_artifact": "edgevision.artifacts", "save_model": "edgevision.artifacts",
    "MODELS": "edgevision.models", "build_model": "edgevision.models", "EdgevisionError": "edgevision.errors",
    "Registry": "edgevision.registry", "StageResult": "edgevision.stages",
}
__all__ = sorted([*_API, "__version__"])


class _Package(types.ModuleType):
    """The package object: verbs named like a subpackage (``train``, ``report``, ``search``) stay the verbs.

    Importing ``edgevision.train`` would otherwise set ``edgevision.train`` to the subpackage (the import system
    binds every submodule on its parent), and ``edgevision.train(...)`` would stop being the function.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if not (name in _API and isinstance(value, types.ModuleType)):
            super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'edgevision' has no attribute {name!r}")
    value = getattr(importlib.import_module(_API[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
