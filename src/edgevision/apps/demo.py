"""``edgevision demo``: a live view of any artifact on a camera, a video, a stream, or a folder of images.

The shape is reference doc 003's C++ prototype: a grabber thread keeps only the newest frame
(:mod:`.sources`), the main loop runs the task's pipeline (:mod:`.pipelines`: preprocess → infer →
postprocess → draw) on one of three engines (:mod:`.engines`), and each frame gets its overlay plus the fps and
the milliseconds of every stage (:mod:`.sinks`). ``--headless`` writes the annotated video and one JSON line per
frame instead of opening a window; a folder source writes annotated images and a CSV. Quitting (q, Esc, Ctrl-C,
or the end of the stream) closes every file cleanly and prints mean fps and p50/p90 per stage.

Timings per frame (milliseconds): ``grab`` (read + decode + BGR→RGB, in the grabber thread, overlapped with
the previous frame's inference), ``preprocess``, ``infer``, ``postprocess``, ``draw`` (task overlay), ``output``
(HUD, encode/write, window); fps = frames / wall time of the loop.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ..artifacts import load_artifact
from ..errors import ConfigError
from ..runs import RunDir, make_card
from ..stages import StageResult, run_stage, stage
from ..utils.io import write_json
from ..utils.progress import console, make_progress
from .engines import make_engine
from .pipelines import Pipeline, pipeline_for
from .sinks import FOURCC, JsonlSink, VideoSink, Window, draw_hud, write_csv, write_image
from .sources import Frame, Grabber, folder_frames, list_folder, open_capture, source_kind

STAGE_ORDER = ("grab", "preprocess", "infer", "postprocess", "draw", "output")


class DemoConfig(BaseModel):
    """``edgevision demo``: an artifact, a source, an engine, and where the results go."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    artifact: str = Field(..., description="model file (.pt/.evz/.onnx) or run folder")
    source: str = Field(..., description="camera index (0), video file, folder of images, or rtsp:// URL")
    engine: Literal["auto", "torch", "onnxruntime", "cv2"] = Field(
        "auto", description="auto: torch for .pt/.evz, onnxruntime for .onnx")
    threads: int = Field(1, ge=1, le=256, description="torch/onnxruntime/OpenCV inference threads (default 1: a "
                         "steady frame rate beside the capture thread)")
    headless: bool = Field(False, description="no window; write files instead")
    out: str | None = Field(None, description="annotated video (.mp4/.avi/.mkv) or output folder")
    jsonl: str | None = Field(None, description="one JSON line per frame (default <out folder>/results.jsonl)")
    realtime: bool = Field(False, description="video files behave like a camera: drop frames to keep up")
    max_frames: int = Field(0, ge=0, description="stop after this many frames (0: until the stream ends)")
    hud: bool = Field(True, description="draw fps and per-stage times on the frames")
    gallery: str | None = Field(None, description="face models: the SQLite gallery of `edgevision faces enroll`")
    face_detector: dict[str, Any] = Field(default_factory=dict, description="face models: Haar options "
                                          "(cascade, scale_factor, min_neighbors, min_size, detect_width, margin)")


@dataclass
class Stats:
    """Per-frame stage times; the summary gives mean fps and mean/p50/p90 per stage."""

    times: dict[str, list[float]] = field(default_factory=dict)
    frames: int = 0
    dropped: int = 0
    unreadable: int = 0
    t0: float = field(default_factory=time.perf_counter)
    t_end: float = 0.0

    def add(self, ms: dict[str, float], dropped: int = 0) -> None:
        for k, v in ms.items():
            self.times.setdefault(k, []).append(v)
        self.frames += 1
        self.dropped += dropped

    def summary(self) -> dict[str, Any]:
        wall = (self.t_end or time.perf_counter()) - self.t0
        order = [k for k in STAGE_ORDER if k in self.times] + [k for k in self.times if k not in STAGE_ORDER]
        stages = {k: {"mean_ms": float(np.mean(self.times[k])), "p50_ms": float(np.percentile(self.times[k], 50)),
                      "p90_ms": float(np.percentile(self.times[k], 90))} for k in order}
        return {"frames": self.frames, "dropped": self.dropped, "unreadable": self.unreadable,
                "seconds": round(wall, 4), "mean_fps": self.frames / wall if wall > 0 and self.frames else 0.0,
                "stages": stages}


def format_summary(s: dict[str, Any]) -> str:
    """The summary printed when the demo ends."""
    head = (f"{s['frames']} frames in {s['seconds']:.2f} s: mean {s['mean_fps']:.1f} fps "
            f"({s['engine']}, {s['threads']} thread{'s' if s['threads'] > 1 else ''})")
    if s.get("dropped"):
        head += f", {s['dropped']} frames dropped to stay live"
    if s.get("unreadable"):
        head += f", {s['unreadable']} unreadable images skipped"
    rows = [f"  {'stage':<12}{'mean ms':>9}{'p50 ms':>9}{'p90 ms':>9}"]
    rows += [f"  {k:<12}{v['mean_ms']:>9.2f}{v['p50_ms']:>9.2f}{v['p90_ms']:>9.2f}" for k, v in s["stages"].items()]
    return "\n".join([head, *rows])


class Runner:
    """Runs the pipeline on one frame, timing each step, and draws the HUD."""

    def __init__(self, pipe: Pipeline, hud: bool) -> None:
        self.pipe, self.hud = pipe, hud
        self.fps = 0.0
        self._last = time.perf_counter()

    def step(self, frame: Frame) -> tuple[np.ndarray, dict[str, Any], dict[str, float]]:
        p = self.pipe
        p.extra_ms = {}
        t0 = time.perf_counter()
        x = p.preprocess(frame.image)
        t1 = time.perf_counter()
        raw = p.infer(x)
        t2 = time.perf_counter()
        pred = p.postprocess(raw, frame.image)
        t3 = time.perf_counter()
        img = p.draw(frame.image, pred)
        t4 = time.perf_counter()
        ms = {"grab": frame.grab_ms, "preprocess": (t1 - t0) * 1e3, "infer": (t2 - t1) * 1e3,
              "postprocess": (t3 - t2) * 1e3, "draw": (t4 - t3) * 1e3, **p.extra_ms}
        period = t4 - self._last  # frame-to-frame time, including waiting for the grabber
        self._last = t4
        self.fps = 1 / period if not self.fps else 0.9 * self.fps + 0.1 / max(period, 1e-9)
        if self.hud:
            draw_hud(img, self.fps, ms, p.engine.name)
        return img, pred, ms


@dataclass
class Targets:
    """Resolved output paths: annotated video or image folder, JSONL, and the folder for summary/card."""

    video: Path | None = None
    folder: Path | None = None
    jsonl: Path | None = None


def resolve_targets(cfg: DemoConfig, default: Path | None, kind: str) -> Targets:
    out = Path(cfg.out) if cfg.out else default
    jsonl = Path(cfg.jsonl) if cfg.jsonl else None
    if out is None:
        return Targets(jsonl=jsonl)
    if kind == "folder":
        if out.suffix.lower() in FOURCC:
            raise ConfigError(f"--out {out}: a folder source writes annotated images and a CSV; give a folder")
        return Targets(folder=out, jsonl=jsonl)
    if out.suffix.lower() in FOURCC:
        return Targets(video=out, jsonl=jsonl)
    if out.suffix:
        raise ConfigError(f"--out {out}: expected a video file ending in {', '.join(FOURCC)} or a folder")
    return Targets(video=out / "annotated.mp4", folder=out, jsonl=jsonl or out / "results.jsonl")


def _stream_loop(run: Runner, grab: Grabber, cfg: DemoConfig, tg: Targets, stats: Stats,
                 window: Window | None) -> None:
    video = VideoSink(tg.video, grab.fps, grab.size) if tg.video else None
    lines = JsonlSink(tg.jsonl) if tg.jsonl else None
    try:
        while (frame := grab.get()) is not None:
            img, pred, ms = run.step(frame)
            t0 = time.perf_counter()
            if video:
                video.write(img)
            if window:
                window.show(img)
            ms["output"] = (time.perf_counter() - t0) * 1e3
            if lines:
                lines.write({"frame": stats.frames, "index": frame.index, "dropped": frame.dropped,
                             "t": round(time.perf_counter() - stats.t0, 4), "fps": round(run.fps, 3),
                             "ms": {k: round(v, 4) for k, v in ms.items()}, "prediction": pred})
            stats.add(ms, frame.dropped)
            if (window and window.poll()) or (cfg.max_frames and stats.frames >= cfg.max_frames):
                break
    except KeyboardInterrupt:  # Ctrl-C is how a headless camera demo ends: finish the files, print the summary
        console.print("interrupted: closing the output files")
    finally:
        stats.t_end = time.perf_counter()
        for sink in (video, lines):
            if sink:
                sink.close()


def _folder_loop(run: Runner, files: list[Path], root: Path, tg: Targets, stats: Stats,
                 window: Window | None, cfg: DemoConfig) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    lines = JsonlSink(tg.jsonl) if tg.jsonl else None
    try:
        with make_progress() as bar:
            job = bar.add_task("demo", total=len(files))
            for f, frame in folder_frames(files):
                bar.advance(job)
                rel = f.relative_to(root)
                if frame is None:
                    stats.unreadable += 1
                    rows.append({"file": str(rel), "error": "unreadable image"})
                    continue
                img, pred, ms = run.step(frame)
                t0 = time.perf_counter()
                if tg.folder:
                    write_image(tg.folder / rel.with_suffix(".png"), img)
                if window:
                    window.show(img)
                ms["output"] = (time.perf_counter() - t0) * 1e3
                rows.append({"file": str(rel), "width": frame.image.shape[1], "height": frame.image.shape[0],
                             **run.pipe.row(pred), **{f"{k}_ms": round(v, 3) for k, v in ms.items()}})
                if lines:
                    lines.write({"frame": stats.frames, "file": str(rel), "ms": ms, "prediction": pred})
                stats.add(ms)
                if (window and window.poll()) or (cfg.max_frames and stats.frames >= cfg.max_frames):
                    break
    except KeyboardInterrupt:
        console.print("interrupted: writing what is done")
    finally:
        stats.t_end = time.perf_counter()
        if lines:
            lines.close()
    return rows


def _warm_up(pipe: Pipeline, shape: tuple[int, int, int]) -> None:
    """Two inferences on zeros: first-call costs (allocations, graph optimization) stay out of the timings."""
    x = np.zeros((1, *shape), np.float32)
    for _ in range(2):
        pipe.infer(x)


@stage("demo", DemoConfig, input_field="artifact", summary="live demo on a camera, video, stream or image folder")
def run_demo(cfg: DemoConfig, out: Path) -> StageResult:
    kind = source_kind(cfg.source)  # source errors before the (slower) model load
    files = list_folder(cfg.source) if kind == "folder" else []
    grab = None if kind == "folder" else Grabber(open_capture(cfg.source, kind), cfg.source, kind,
                                                 latest=kind in ("camera", "stream") or cfg.realtime,
                                                 max_frames=cfg.max_frames)
    engine = window = None
    try:
        art = load_artifact(cfg.artifact)
        tg = resolve_targets(cfg, out if (cfg.headless or kind == "folder") else None, kind)
        engine = make_engine(art, cfg.engine, cfg.threads)
        pipe = pipeline_for(art, engine, {"gallery": cfg.gallery, "face_detector": cfg.face_detector})
        _warm_up(pipe, art.input_shape)
        window = None if cfg.headless else Window()
        stats = Stats()
        run = Runner(pipe, cfg.hud)
        if grab is not None:
            _stream_loop(run, grab, cfg, tg, stats, window)
            if grab.error:
                console.print(f"[yellow]warning:[/] the stream ended on a decoding error: {grab.error}")
        else:
            rows = _folder_loop(run, files, Path(cfg.source), tg, stats, window, cfg)
            if tg.folder:
                write_csv(tg.folder / "predictions.csv", rows)
    finally:
        if grab is not None:
            grab.close()
        if window is not None:
            window.close()
        if engine is not None:
            engine.close()
    return _finish(cfg, art, stats.summary() | {"engine": engine.name, "threads": engine.threads,
                                                  "source": cfg.source, "kind": kind}, tg)


def _finish(cfg: DemoConfig, art: Any, summary: dict[str, Any], tg: Targets) -> StageResult:
    console.print(format_summary(summary), highlight=False)
    for what, p in (("annotated video", tg.video), ("per-frame results", tg.jsonl)):
        if p is not None and p.exists():
            console.print(f"{what}: {p}", highlight=False)
    card = make_card("demo", task=art.task, parent=str(art.path), metrics=summary, engine=summary["engine"],
                     threads=summary["threads"], source=cfg.source)
    if tg.folder is not None:
        write_json(tg.folder / "summary.json", summary)
        run = RunDir(tg.folder).mkdir()
        run.write_config(cfg.model_dump())
        run.write_card(card)
        if (tg.folder / "predictions.csv").exists():
            console.print(f"annotated images and predictions.csv: {tg.folder}", highlight=False)
    return StageResult(tg.folder or (tg.video.parent if tg.video else Path(".")), tg.video, card)


def demo(artifact: str | Path, source: str | int | Path, out: str | Path | None = None, **options: Any
         ) -> StageResult:
    """Run the live demo (``edgevision demo``); returns the card, whose ``metrics`` are the summary.

    Example:
        >>> edgevision.demo("runs/qs/pack", "clip.mp4", out="runs/demo", headless=True, engine="onnxruntime")
    """
    opts = {"artifact": str(artifact), "source": str(source), **options}
    if out is not None:
        opts["out"] = str(out)
    return run_stage("demo", opts, None)
