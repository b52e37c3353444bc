"""Model registry and families. Importing this package registers every built-in model."""

from . import (  # noqa: F401  (registration)
    afdet,
    enet,
    facenet,
    lenet,
    linknet,
    localizer,
    mlp,
    mobilenet,
    resnet,
    squeezedet,
    squeezenet,
    students,
)
from .base import MODELS, ArchSpec, EdgeModel, build_from_spec, build_model, count_params, default_input, get_arch

__all__ = ["MODELS", "ArchSpec", "EdgeModel", "build_from_spec", "build_model", "count_params", "default_input",
           "get_arch"]
