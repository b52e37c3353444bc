"""Face detectors on ORL's 400 images (one face each, 92×112 grey): how many images get a face box, and ms per
image on one thread, for BlazeFace (MediaPipe short-range, LiteRT) and the Haar cascade (default options, and
``min_size`` 30 for these small frames). Detectors are timed in interleaved rounds; medians per image.

Usage: flock /tmp/edgevision-bench.lock .venv/bin/python benchmarks/blazeface_orl.py
"""

from __future__ import annotations

import os
import time
import zipfile

import cv2
import numpy as np

from _common import require, save
from edgevision.configs.faces import DetectorConfig
from edgevision.faces.detect import detect_faces

DETECTORS = {"blazeface": DetectorConfig(detector="blazeface"), "haar": DetectorConfig(),
             "haar_min_size_30": DetectorConfig(min_size=30)}


def main() -> None:
    cv2.setNumThreads(1)
    root = require("orl_faces")
    with zipfile.ZipFile(root / "orl_faces.zip") as z:
        names = sorted(n for n in z.namelist() if n.endswith(".pgm"))
        images = [cv2.imdecode(np.frombuffer(z.read(n), np.uint8), cv2.IMREAD_GRAYSCALE) for n in names]
    load = os.getloadavg()
    found = {k: 0 for k in DETECTORS}
    ms: dict[str, list[float]] = {k: [] for k in DETECTORS}
    for g in images:  # interleaved: each image through every detector in turn
        for k, cfg in DETECTORS.items():
            t0 = time.perf_counter()
            found[k] += len(detect_faces(g, cfg)) >= 1
            ms[k].append((time.perf_counter() - t0) * 1000)
    rows = {k: {"images_with_a_face": found[k], "images": len(images), "median_ms": round(float(np.median(ms[k][1:])),
            3), "config": DETECTORS[k].model_dump()} for k in DETECTORS}
    for k, r in rows.items():
        print(f"{k}: {r['images_with_a_face']}/{r['images']} images, {r['median_ms']} ms")
    save("blazeface_orl", {"description": "face detectors on ORL's 400 images: detections and one-thread ms",
                           "rows": rows, "threads": 1, "load_average": {"start": load, "end": os.getloadavg()}})


if __name__ == "__main__":
    main()
