"""``mediapipe-selfie``: MediaPipe's selfie segmentation model (a person probability map, Apache-2.0) as a teacher.

The model files ship inside the mediapipe 0.10.21 wheel (``mediapipe/modules/selfie_segmentation/``): the general
model takes 256×256 RGB, the landscape one 144×256, both in [0, 1], and give p(person) per pixel (B, H, W, 1).
edgevision never imports mediapipe (its dependencies include opencv-contrib-python, which shadows the headless
OpenCV, and jax): the installed package's folder is found with :func:`importlib.util.find_spec` and the file runs
on LiteRT (``ai-edge-litert``, the ``[teachers]`` extra) through :class:`~.files.FileTeacher`. Install it without
its dependencies::

    pip install --no-deps mediapipe==0.10.21      # (make install-extras does this)
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

from ...configs.distill import TeacherOptions
from ...errors import ConfigError
from .files import FileTeacher

VERSION = "0.10.21"
INSTALL = f"pip install --no-deps mediapipe=={VERSION} (and the [teachers] extra for LiteRT; make install-extras)"
LICENSE = "Apache-2.0 (MediaPipe selfie segmentation, Google)"
FILES = {"mediapipe-selfie": ("selfie_segmentation.tflite", (256, 256)),
         "mediapipe-selfie-landscape": ("selfie_segmentation_landscape.tflite", (144, 256))}


def mediapipe_folder(user: str) -> Path:
    """The installed mediapipe package's folder, found without running the package; one line naming the install
    command (for ``user``, e.g. ``teacher mediapipe-selfie``) when it is absent."""
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"{user} needs the model files of mediapipe {VERSION}: {INSTALL}")
    return Path(next(iter(spec.submodule_search_locations)))


def model_file(name: str) -> Path:
    """The installed package's model file for ``name``; one line naming the install command when absent."""
    file = FILES[name][0]
    path = mediapipe_folder(f"teacher {name}") / "modules" / "selfie_segmentation" / file
    if not path.is_file():
        version = importlib.metadata.version("mediapipe")
        raise ConfigError(f"teacher {name}: mediapipe {version} has no {file} (only {VERSION}'s wheel ships it): "
                          f"{INSTALL}")
    return path


def selfie_teacher(name: str, opt: TeacherOptions) -> FileTeacher:
    """The adapter fixed to the model's contract: RGB at its size in [0, 1], NHWC, channel 0 = p(person)."""
    adapter = {"output": "probability_map", "class_map": None, "foreground_channel": 0, "input_size": FILES[name][1],
               "layout": "nhwc", "channels": 3, "mean": (0.0,), "std": (1.0,), "license": LICENSE}
    return FileTeacher(model_file(name), opt.model_copy(update=adapter), name=name)
