"""Run an ONNX file in OpenCV's ``cv2.dnn`` in a child process: ``python cv2check.py MODEL INPUT OUTPUT``.

OpenCV can abort the whole process (e.g. SIGFPE) on graphs it mis-reads, so the exporter and the bench probe a
file here first. It is run by path, so the child imports only cv2 and numpy (not torch); exit status 0 when
OUTPUT was written.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    import cv2
    import numpy as np

    model, inp, out = argv
    cv2.setNumThreads(1)
    net = cv2.dnn.readNetFromONNX(model)
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    net.setInput(np.load(inp))
    np.save(out, np.asarray(net.forward(), dtype=np.float32))
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through subprocess
    sys.exit(main(sys.argv[1:]))
