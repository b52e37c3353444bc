"""Face recognition for embedded cameras (Björgvinsdóttir & Seibold 2016): Haar detection and cropping, the ORL source,
embeddings with a SQLite gallery, open-set thresholds, and the per-frame pipeline for applications.

``recognize_faces(frame, artifact, gallery)`` is the entry point for a camera loop; the ``faces`` CLI verbs
wrap :mod:`.api`.
"""

from . import lfw, orl  # noqa: F401  (register the ``lfw`` and ``orl`` data sources)
from .api import delete, enroll, identify, list_gallery, verify
from .detect import DetectorConfig, crop_faces, detect_and_crop, detect_faces
from .evaluate import faces_eval
from .gallery import Gallery, match
from .openset import evaluate_openset, rates, roc, tar_at_far, threshold_for_far
from .recognize import FaceRecognizer, recognize_faces, recognizer

__all__ = ["DetectorConfig", "FaceRecognizer", "Gallery", "crop_faces", "delete", "detect_and_crop", "detect_faces",
           "enroll", "evaluate_openset", "faces_eval", "identify", "list_gallery", "match", "rates", "recognize_faces",
           "recognizer", "roc", "tar_at_far", "threshold_for_far", "verify"]
from . import demo as _demo  # noqa: F401  (registers the face pipeline of `edgevision demo`)
