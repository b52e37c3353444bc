"""``edgevision demo``: headless runs over a generated video for every task and artifact kind, the three engines,
folder mode, the newest-frame grabber, and one-line errors for bad sources."""

from __future__ import annotations

import json
import math
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from demo_helpers import count_frames, make_artifact, make_video

from edgevision.apps.demo import demo
from edgevision.apps.sources import Grabber
from edgevision.cli import main
from edgevision.errors import ConfigError

pytestmark = pytest.mark.usefixtures("one_thread")
FRAMES = 10
STAGES = {"grab", "preprocess", "infer", "postprocess", "draw", "output"}


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    return make_video(tmp_path_factory.mktemp("video") / "clip.avi", frames=FRAMES)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("arts")
    return {t: make_artifact(t, root / t) for t in ("classification", "presence", "localization", "detection",
                                                     "segmentation")}


def _check_outputs(out: Path, jsonl: Path, n: int, task_key: str) -> list[dict]:
    assert count_frames(out) == n
    lines = [json.loads(s) for s in jsonl.read_text().splitlines()]
    assert len(lines) == n and [r["frame"] for r in lines] == list(range(n))
    for r in lines:
        assert set(r["ms"]) >= STAGES and all(math.isfinite(v) and v >= 0 for v in r["ms"].values())
        assert task_key in r["prediction"]
    assert not list(out.parent.glob(".*partial*"))  # temporary files were renamed away
    return lines


@pytest.mark.parametrize("task,key", [("classification", "label"), ("presence", "score"), ("localization", "box"),
                                      ("detection", "detections"), ("segmentation", "mask")])
def test_headless_video_every_task(task, key, artifacts, video, tmp_path, capsys):
    out, jsonl = tmp_path / "annotated.mp4", tmp_path / "results.jsonl"
    code = main(["demo", str(artifacts[task]), "--source", str(video), "--headless", "--out", str(out),
                 "--jsonl", str(jsonl)])
    assert code == 0
    lines = _check_outputs(out, jsonl, FRAMES, key)
    printed = capsys.readouterr().err
    assert f"{FRAMES} frames in" in printed and "fps" in printed and "p90 ms" in printed and "infer" in printed
    if task == "detection":  # boxes are in the frame's pixels (96×72), not the model's 64×64
        boxes = [d["box"] for r in lines for d in r["prediction"]["detections"]]
        assert boxes and max(b[2] for b in boxes) <= 96.01 and max(b[3] for b in boxes) <= 72.01


def test_overlay_changes_the_frames(artifacts, video, tmp_path):
    demo(artifacts["detection"], video, out=tmp_path / "a.avi", headless=True, hud=False)
    src, ann = cv2.VideoCapture(str(video)), cv2.VideoCapture(str(tmp_path / "a.avi"))
    a, b = src.read()[1].astype(int), ann.read()[1].astype(int)
    assert a.shape == b.shape and np.abs(a - b).mean() > 5  # boxes were drawn (threshold 0: every box shows)


@pytest.fixture(scope="module")
def kinds(artifacts, tmp_path_factory) -> dict[str, Path]:
    """The classification artifact as .pt, .evz (packed) and .onnx (exported)."""
    from edgevision import export, pack

    root = tmp_path_factory.mktemp("kinds")
    pt = artifacts["classification"]
    evz = pack(pt, out=root / "pack").artifact
    onnx = export(pt, out=root / "export", engines=["onnxruntime"]).artifact
    return {"pt": pt, "evz": evz, "onnx": onnx}


@pytest.mark.parametrize("kind,engine", [("evz", "torch"), ("onnx", "onnxruntime"), ("onnx", "cv2"),
                                         ("pt", "onnxruntime"), ("evz", "auto")])
def test_artifact_kinds_and_engines_agree(kind, engine, kinds, video, tmp_path):
    res = demo(kinds[kind], video, out=tmp_path, headless=True, engine=engine, threads=2)
    lines = _check_outputs(tmp_path / "annotated.mp4", tmp_path / "results.jsonl", FRAMES, "label")
    ref = demo(kinds["pt"], video, out=tmp_path / "ref", headless=True, engine="torch")
    ref_lines = [json.loads(s) for s in (tmp_path / "ref" / "results.jsonl").read_text().splitlines()]
    got = np.array([r["prediction"]["score"] for r in lines])
    want = np.array([r["prediction"]["score"] for r in ref_lines])
    np.testing.assert_allclose(got, want, atol=1e-4)  # the same model in every engine and kind
    assert res.card["engine"] == ("torch" if engine == "auto" else engine) and res.card["threads"] == 2
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["frames"] == FRAMES and summary["mean_fps"] > 0
    assert set(summary["stages"]["infer"]) == {"mean_ms", "p50_ms", "p90_ms"}
    assert ref.card["metrics"]["frames"] == FRAMES


def test_torch_engine_refuses_onnx(kinds, video, tmp_path):
    with pytest.raises(ConfigError, match=r"engine torch needs a \.pt or \.evz"):
        demo(kinds["onnx"], video, out=tmp_path, headless=True, engine="torch")


def test_folder_mode_writes_images_and_csv(artifacts, tmp_path, capsys):
    src = tmp_path / "imgs"
    (src / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i, shape in enumerate([(40, 50, 3), (64, 64, 3), (30, 90, 3)]):
        cv2.imwrite(str(src / ("sub" if i == 2 else "") / f"im{i}.jpg"), rng.integers(0, 255, shape, np.uint8))
    (src / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "out"
    assert main(["demo", str(artifacts["detection"]), "--source", str(src), "--headless", "--out", str(out)]) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == ["im0.png", "im1.png", "sub/im2.png"]
    assert cv2.imread(str(out / "sub" / "im2.png")).shape == (30, 90, 3)
    import csv

    rows = list(csv.DictReader((out / "predictions.csv").open()))
    assert [r["file"] for r in rows] == ["broken.png", "im0.jpg", "im1.jpg", "sub/im2.jpg"]
    assert rows[0]["error"] == "unreadable image" and rows[1]["infer_ms"] and int(rows[1]["count"]) >= 0
    assert json.loads((out / "card.json").read_text())["metrics"]["unreadable"] == 1
    assert "1 unreadable images skipped" in " ".join(capsys.readouterr().err.split())  # rich wraps long lines
    assert not (out / "results.jsonl").exists()  # JSON lines of a folder source only where --jsonl says


def test_the_jsonl_help_says_what_a_folder_source_writes(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    jsonl = text[text.index("--jsonl JSONL one JSON"):text.index("--realtime, --no-realtime")]
    assert "results.jsonl" in jsonl and "predictions.csv" in jsonl and "folder of images" in jsonl, jsonl


def test_bad_sources_give_one_line_errors(artifacts, tmp_path, capsys):
    art = str(artifacts["classification"])
    bad_codec = tmp_path / "garbage.mp4"
    bad_codec.write_bytes(b"\x00\x01 this is not a video " * 200)
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [(str(tmp_path / "missing.mp4"), "no such video file or folder"),
             ("7", "camera 7: no such device"),
             (str(bad_codec), "cannot decode this video"),
             (str(empty), "no images found"),
             ("rtsp://127.0.0.1:9/stream", "cannot open the stream")]  # port 9 (discard): connection refused
    for source, expected in cases:
        assert main(["demo", art, "--source", source, "--headless", "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and expected in err and "\n" not in err, err
    assert main(["demo", art, "--source", str(tmp_path / "missing.mp4"), "--out", "x.gif"]) == 2


def test_window_mode_without_a_display_is_a_clear_error(artifacts, video, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main(["demo", str(artifacts["classification"]), "--source", str(video)]) == 2
    err = capsys.readouterr().err
    assert "--headless" in err and err.count("\n") == 1


class FakeCapture:
    """A camera that produces numbered frames every ``period`` seconds, ``n`` in all."""

    def __init__(self, n: int, period: float) -> None:
        self.n, self.period, self.i = n, period, 0
        self.lock = threading.Lock()

    def read(self):
        time.sleep(self.period)
        with self.lock:
            if self.i >= self.n:
                return False, None
            self.i += 1
            return True, np.full((8, 8, 3), self.i - 1, np.uint8)

    def get(self, prop):
        return 30.0

    def release(self):
        pass


def test_grabber_keeps_only_the_newest_frame():
    g = Grabber(FakeCapture(40, 0.002), "fake", "camera", latest=True)
    seen, dropped = [], 0
    while (f := g.get()) is not None:
        seen.append(int(f.image[0, 0, 0]))
        dropped += f.dropped
        time.sleep(0.012)  # a consumer 6× slower than the camera
    g.close()
    assert seen == sorted(seen) and len(seen) < 40 and dropped > 0
    assert len(seen) + dropped == 40  # every frame was either shown or counted as dropped
    assert seen[-1] >= 37  # the last frame shown is (nearly) the newest


def test_file_grabber_waits_and_drops_nothing():
    g = Grabber(FakeCapture(25, 0.0), "fake", "video", latest=False)
    seen = []
    while (f := g.get()) is not None:
        seen.append(int(f.image[0, 0, 0]))
        time.sleep(0.002)
    g.close()
    assert seen == list(range(25))


def test_a_new_task_plugs_in_with_one_pipeline_entry(tmp_path, video):
    """How the faces task will plug in: a TASKS entry plus a PIPELINES entry; its own sub-stage times show up."""
    from edgevision.apps.pipelines import PIPELINES, Pipeline
    from edgevision.artifacts import save_model
    from edgevision.models import build_model
    from edgevision.tasks import TASKS
    from edgevision.tasks.classification import ClassificationTask

    if "toy_faces" not in TASKS:
        TASKS.register("toy_faces", type("ToyFaces", (ClassificationTask,), {"name": "toy_faces"}))

        @PIPELINES.register("toy_faces")
        class ToyFacePipeline(Pipeline):
            def postprocess(self, raw, frame):
                t0 = time.perf_counter()
                pred = super().postprocess(raw, frame)
                self.extra_ms["recognize"] = (time.perf_counter() - t0) * 1000
                return {"faces": [{"box": [0, 0, 10, 10], "name": pred["label"], "score": pred["score"]}]}

            def draw(self, frame, pred):
                return frame.copy()

            def row(self, pred):
                return {"count": len(pred["faces"])}

    art = save_model(tmp_path / "faces.pt", build_model("student_cnn", width=4, depth=2, num_classes=2),
                     task={"name": "toy_faces", "class_names": ["ann", "bob"]},
                     preprocess={"channels": 3, "input_size": [32, 32], "mean": [0.5] * 3, "std": [0.25] * 3})
    res = demo(art, video, out=tmp_path / "out", headless=True)
    lines = [json.loads(s) for s in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert len(lines) == FRAMES and lines[0]["prediction"]["faces"][0]["name"] in ("ann", "bob")
    assert "recognize" in lines[0]["ms"] and "recognize" in res.card["metrics"]["stages"]
