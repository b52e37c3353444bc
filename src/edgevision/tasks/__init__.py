"""Tasks: each gives the training step (loss), decoding, metrics and drawing for one kind of output.

The training loop never branches on the task. A task is rebuilt from the dict saved with the model
(``{"name": ..., **kwargs}``) through :data:`TASKS`.
"""

from . import classification, detection, face, localization, segmentation  # noqa: F401  (register the tasks)
from .base import TASKS, Meter, Task, build_task

__all__ = ["TASKS", "Meter", "Task", "build_task"]
