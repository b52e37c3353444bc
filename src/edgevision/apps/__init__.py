"""User-facing applications built on artifacts: ``predict`` and the live ``demo`` with its per-task pipelines.
Importing this package registers the stages and the demo pipelines."""

from . import demo, pipelines, predict  # noqa: F401  (registration)
