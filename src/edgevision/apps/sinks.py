"""Where the demo's results go: an annotated video, one JSON line per frame, annotated images + a CSV, a window,
and the heads-up display (fps and per-stage times) drawn on every frame.

Files appear atomically: each is written to a hidden sibling and renamed when the demo ends (also after Ctrl-C),
so a reader never sees half a video.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import ConfigError, EdgevisionError
from ..utils.io import to_jsonable, write_bytes, write_text

FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}
HUD_STAGES = ("grab", "preprocess", "infer", "postprocess", "draw")


def _partial(path: Path) -> Path:
    return path.with_name(f".{path.stem}.partial{path.suffix}")


class VideoSink:
    """An annotated video (RGB frames in, the container's codec out) at the source's frame rate."""

    def __init__(self, path: str | Path, fps: float, size: tuple[int, int]) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() not in FOURCC:
            raise ConfigError(f"--out {self.path}: expected a video file ending in {', '.join(FOURCC)} or a folder")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = _partial(self.path)
        self.size = size
        self.writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*FOURCC[self.path.suffix.lower()]),
                                      float(fps), size)
        if not self.writer.isOpened():
            raise EdgevisionError(f"{self.path}: OpenCV cannot write this video format here; try .avi (MJPEG)")
        self.frames = 0

    def write(self, rgb: np.ndarray) -> None:
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        if (bgr.shape[1], bgr.shape[0]) != self.size:  # a stream may change resolution mid-way
            bgr = cv2.resize(bgr, self.size, interpolation=cv2.INTER_AREA)
        self.writer.write(bgr)
        self.frames += 1

    def close(self) -> None:
        self.writer.release()
        if self.tmp.exists():
            os.replace(self.tmp, self.path)


class JsonlSink:
    """One JSON object per line, flushed per frame (a ``tail -f`` sees results live)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = _partial(self.path)
        self.f = open(self.tmp, "w")  # noqa: SIM115  (closed in close())

    def write(self, record: dict[str, Any]) -> None:
        self.f.write(json.dumps(to_jsonable(record)) + "\n")
        self.f.flush()

    def close(self) -> None:
        self.f.close()
        os.replace(self.tmp, self.path)


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Rows with possibly different keys → one CSV (columns in first-seen order)."""
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, restval="")
    w.writeheader()
    w.writerows(rows)
    return write_text(path, buf.getvalue())


def write_image(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(path.suffix or ".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise EdgevisionError(f"{path}: cannot encode the annotated image")

    write_bytes(path, buf.tobytes())


class Window:
    """An OpenCV window; ``poll()`` is True when the user pressed q or Esc or closed the window."""

    NAME = "edgevision demo (q to quit)"

    def __init__(self) -> None:
        if os.name == "posix" and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise EdgevisionError("no display to open a window on (DISPLAY is not set); use --headless --out "
                                  "annotated.mp4")
        try:
            cv2.namedWindow(self.NAME, cv2.WINDOW_NORMAL)
        except cv2.error:
            raise EdgevisionError("this OpenCV build has no GUI (opencv-python-headless); use --headless --out "
                                  "annotated.mp4, or install opencv-python for a window") from None

    def show(self, rgb: np.ndarray) -> None:
        cv2.imshow(self.NAME, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))

    def poll(self) -> bool:
        key = cv2.waitKey(1) & 0xFF
        closed = cv2.getWindowProperty(self.NAME, cv2.WND_PROP_VISIBLE) < 1
        return key in (ord("q"), 27) or closed

    def close(self) -> None:
        cv2.destroyWindow(self.NAME)
        cv2.waitKey(1)


def draw_hud(rgb: np.ndarray, fps: float, ms: dict[str, float], engine: str) -> np.ndarray:
    """fps and per-stage milliseconds on a dark band along the bottom edge (in place; returns the image)."""
    h, w = rgb.shape[:2]
    scale = max(0.35, min(w / 900, 1.2))
    parts = [f"{fps:5.1f} fps", engine] + [f"{k[:4]} {ms[k]:.1f}" for k in HUD_STAGES if k in ms]
    parts += [f"{k[:6]} {v:.1f}" for k, v in ms.items() if k not in HUD_STAGES and k != "output"]
    text = "  ".join(parts) + " ms"
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, 1)
    if tw > w - 8:  # narrow frames: shrink the text to fit
        scale *= (w - 8) / tw
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, 1)
    y0 = h - th - base - 6
    band = rgb[max(y0, 0):h]
    band[:] = (band.astype(np.uint16) * 2 // 5).astype(np.uint8)  # darken 60 %: readable on any background
    cv2.putText(rgb, text, (4, h - base - 3), cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, (255, 255, 255), 1, cv2.LINE_AA)
    return rgb
