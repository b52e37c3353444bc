"""edgevision: make vision models small and fast enough for limited hardware, and prove it with measurements.

The public API mirrors the CLI: each verb is a function of the same name.

    >>> import edgevision as ev
    >>> res = ev.train(model="student_cnn", data={"source": "synthetic:shapes", "input_size": 32}, epochs=3)
    >>> ev.evaluate(res.artifact).metrics
"""

from ._version import __version__
from .apps.demo import demo
from .apps.predict import predict
from .artifacts import Artifact, load_artifact, save_model
from .bench.bench import bench
from .bench.profile import list_models, profile
from .compress import cluster, distill, lowrank, pack, prune, sensitivity, shrink, unpack
from .deploy.export import export
from .deploy.quantize import quantize
from .errors import EdgevisionError
from .faces import faces_eval
from .models import MODELS, build_model
from .recipe import quickstart, run
from .registry import Registry
from .report import speed as _speed_sections  # noqa: F401  (registers the bench and compression sections)
from .report.html import report
from .search import search
from .stages import StageResult
from .train.anchors import anchors
from .train.evaluate import evaluate
from .train.stage import train

__all__ = ["MODELS", "Artifact", "EdgevisionError", "Registry", "StageResult", "__version__", "anchors", "bench",
           "build_model", "cluster", "demo", "distill", "evaluate", "export", "faces_eval", "list_models",
           "load_artifact", "lowrank", "pack", "predict", "profile", "prune", "quantize", "quickstart", "report", "run",
           "save_model", "search", "sensitivity", "shrink", "train", "unpack"]
