"""Model registry and families. Importing this package registers every built-in model."""

from . import enet, lenet, linknet, mlp, mobilenet, resnet, squeezenet, students  # noqa: F401  (registration)
from .base import MODELS, ArchSpec, EdgeModel, build_from_spec, build_model, count_params, default_input, get_arch

__all__ = ["MODELS", "ArchSpec", "EdgeModel", "build_from_spec", "build_model", "count_params", "default_input",
           "get_arch"]
