"""Frame sources for the demo: a camera index, a video file, a stream URL, or a folder of images.

Björgvinsdóttir & Seibold's (2016) prototype read the camera in a background thread that kept only the newest frame, so
the display never lags behind the camera however slow the model is. :class:`Grabber` does that for live sources
(camera, ``rtsp://``/``http://`` streams): each new frame replaces the one waiting, and the frames it replaced
are counted as ``dropped``. A video file is not live, so by default its grabber waits for the main loop instead
(every frame is processed, and ``--out`` has exactly as many frames as the input); ``realtime=True`` makes a
file behave like a camera.

Bad sources fail early with one line: a missing file, a camera index with no device, a file or stream OpenCV
cannot decode.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..data.imageio import is_image_file, read_image
from ..errors import DataError

STREAM_PREFIXES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://")
STREAM_TIMEOUT_MS = 10_000
VIDEO_EXTS = {".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts", ".gif"}


@dataclass
class Frame:
    """One grabbed frame: RGB uint8 (H, W, 3), its index in the stream, grab time and frames skipped before it."""

    image: np.ndarray
    index: int
    grab_ms: float
    dropped: int = 0
    name: str = ""


def _quiet_opencv() -> None:
    """OpenCV prints a WARN line per failed backend when a camera or file does not open; our error says it once."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # FFmpeg's own "[tcp @ 0x..] Connection refused" lines
    with contextlib.suppress(AttributeError):  # very old OpenCV builds lack cv2.utils.logging
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


def source_kind(source: str) -> str:
    """``camera``, ``stream``, ``folder`` or ``video`` (checks that a file or folder exists)."""
    if source.strip().isdigit():
        return "camera"
    if source.lower().startswith(STREAM_PREFIXES):
        return "stream"
    p = Path(source)
    if p.is_dir():
        return "folder"
    if not p.exists():
        raise DataError(f"{source}: no such video file or folder (sources: a camera index such as 0, a video "
                        f"file, a folder of images, or an rtsp:// URL)")
    return "video"


def open_capture(source: str, kind: str) -> cv2.VideoCapture:
    """An opened ``cv2.VideoCapture`` that has delivered its first frame, or a one-line :class:`DataError`."""
    _quiet_opencv()
    if kind == "camera":
        idx = int(source)
        if os.name == "posix" and Path("/dev").is_dir() and not Path(f"/dev/video{idx}").exists():
            found = sorted(p.name for p in Path("/dev").glob("video*"))
            raise DataError(f"camera {idx}: no such device (/dev/video{idx} does not exist; "
                            f"{'found ' + ', '.join(found) if found else 'this machine has no camera'})")
        cap = cv2.VideoCapture(idx)
    elif kind == "stream":  # bounded waits: an unreachable camera must not hang the demo for minutes
        cap = cv2.VideoCapture(source, cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, STREAM_TIMEOUT_MS,
                                                        cv2.CAP_PROP_READ_TIMEOUT_MSEC, STREAM_TIMEOUT_MS])
    else:
        cap = cv2.VideoCapture(source)
    if not cap.isOpened():
        cap.release()
        raise DataError(_open_error(source, kind))
    return cap


def _open_error(source: str, kind: str) -> str:
    if kind == "camera":
        return f"camera {source}: the device exists but cannot be opened (in use, or no permission)"
    if kind == "stream":
        return f"{source}: cannot open the stream (unreachable, refused, or a format OpenCV's FFmpeg cannot read)"
    return (f"{source}: cannot decode this video (unreadable file, or a codec/container OpenCV's FFmpeg does not "
            f"support; try re-encoding to H.264 MP4 or MJPEG AVI)")


def _first_frame_error(source: str, kind: str) -> str:
    if kind == "video":
        return f"{source}: no frame could be decoded (empty, truncated, or an unsupported codec)"
    return f"{source}: opened, but delivered no frame"


class Grabber:
    """A background thread that reads a capture and hands over frames.

    ``latest=True`` (live sources): keep only the newest frame; a slow consumer sees the present, never a
    backlog, and the replaced frames are counted in ``Frame.dropped``. ``latest=False`` (files): block until the
    consumer took the previous frame, so nothing is skipped while decoding still overlaps inference.
    """

    def __init__(self, cap: cv2.VideoCapture, source: str, kind: str, latest: bool, max_frames: int = 0) -> None:
        self.cap, self.source, self.kind, self.latest, self.max_frames = cap, source, kind, latest, max_frames
        self.fps = float(cap.get(cv2.CAP_PROP_FPS) or 0) or 25.0
        self._cond = threading.Condition()
        self._slot: Frame | None = None
        self._done = False
        self._stop = False
        self._error: str | None = None
        self._pending_drop = 0
        first = self._read(0)
        if first is None:
            cap.release()
            raise DataError(_first_frame_error(source, kind))
        self._slot = first
        self.size = (first.image.shape[1], first.image.shape[0])  # (W, H)
        self._thread = threading.Thread(target=self._loop, name="edgevision-grabber", daemon=True)
        self._thread.start()

    def _read(self, index: int) -> Frame | None:
        t0 = time.perf_counter()
        ok, bgr = self.cap.read()
        if not ok or bgr is None:
            return None
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) if bgr.ndim == 3 else cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB)
        return Frame(rgb, index, (time.perf_counter() - t0) * 1000)

    def _loop(self) -> None:
        index = 1
        while not self._stop and (not self.max_frames or index < self.max_frames or self.latest):
            try:
                frame = self._read(index)
            except cv2.error as e:  # a corrupt packet mid-stream: end the stream, report it
                self._error = str(e).strip().splitlines()[-1][:200]
                frame = None
            if frame is None:
                break
            with self._cond:
                if self.latest:
                    self._pending_drop += self._slot is not None  # the waiting frame is replaced, never shown
                    self._slot = frame
                else:
                    while self._slot is not None and not self._stop:
                        self._cond.wait(0.1)
                    self._slot = frame
                self._cond.notify_all()
            index += 1
        with self._cond:
            self._done = True
            self._cond.notify_all()

    def get(self) -> Frame | None:
        """The next frame (newest one for live sources); None at the end of the stream."""
        with self._cond:
            while self._slot is None and not self._done:
                self._cond.wait(0.1)
            frame, self._slot = self._slot, None
            if frame is not None and self.latest:
                frame.dropped, self._pending_drop = self._pending_drop, 0
            self._cond.notify_all()
            return frame

    @property
    def error(self) -> str | None:
        return self._error

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout=5)
        self.cap.release()


def list_folder(folder: str | Path) -> list[Path]:
    """Image files under ``folder`` (recursive, sorted); a one-line error when there are none."""
    files = sorted(f for f in Path(folder).rglob("*") if is_image_file(f))
    if not files:
        raise DataError(f"{folder}: no images found (looked for {', '.join(sorted({'.jpg', '.png', '.bmp'}))} ...)")
    return files


def folder_frames(files: list[Path]) -> Iterator[tuple[Path, Frame | None]]:
    """(file, frame) per image; the frame is None when the file cannot be decoded (the demo skips and counts it)."""
    for i, f in enumerate(files):
        t0 = time.perf_counter()
        img = read_image(f, 3)
        yield f, None if img is None else Frame(img, i, (time.perf_counter() - t0) * 1000, name=str(f))
