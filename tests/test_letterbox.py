"""Letterbox resize: boxes map into the padded input and back exactly, through the task, predict and ONNX sidecars."""

import numpy as np
import pytest
import torch

from edgevision.ops.letterbox import LETTERBOX_PAD, fit, fit_image, resize_record


@pytest.mark.parametrize("hw", [(120, 200), (200, 120), (64, 64), (37, 91)])
def test_letterbox_round_trip_and_placement(hw):
    size = (64, 96)
    f = fit(hw, size, "letterbox")
    r = min(size[0] / hw[0], size[1] / hw[1])
    assert (f.nh, f.nw) == (min(size[0], round(hw[0] * r)), min(size[1], round(hw[1] * r)))
    assert f.top == (size[0] - f.nh) // 2 and f.left == (size[1] - f.nw) // 2
    boxes = np.array([[0, 0, hw[1], hw[0]], [5.5, 7.25, 30, 33]], np.float32)
    inp = f.to_input(boxes)
    assert np.allclose(inp[0], [f.left, f.top, f.left + f.nw, f.top + f.nh], atol=1e-4)  # the image fills its slot
    assert np.allclose(f.to_image(inp), boxes, atol=1e-3)


def test_letterbox_image_keeps_aspect_and_pads_grey():
    img = np.zeros((50, 100, 3), np.uint8)
    img[10:20, 30:60] = 255
    out = fit_image(img, (64, 64), "letterbox")
    f = fit(img.shape[:2], (64, 64), "letterbox")
    assert out.shape == (64, 64, 3) and (f.nh, f.nw, f.top, f.left) == (32, 64, 16, 0)
    assert (out[:f.top] == LETTERBOX_PAD).all() and (out[f.top + f.nh:] == LETTERBOX_PAD).all()
    x1, y1, x2, y2 = f.to_input(np.array([[30, 10, 60, 20]], np.float32))[0]
    assert (out[int(y1) + 1:int(y2) - 1, int(x1) + 1:int(x2) - 1] == 255).all()  # the object is where its box says
    stretched = fit_image(img, (64, 64), "stretch")
    assert stretched.shape == (64, 64, 3) and fit(img.shape[:2], (64, 64)).top == 0


def test_padding_maps_outside_and_is_clipped():
    f = fit((50, 100), (64, 64), "letterbox")
    back = f.to_image(np.array([[0, 0, 64, 64]], np.float32))  # the whole input, padding included
    assert np.allclose(back, [[0, 0, 100, 50]])


def test_unknown_mode_is_an_error():
    with pytest.raises(ValueError, match="letterbox"):
        fit((10, 10), (8, 8), "squash")


def test_resize_record():
    assert resize_record("stretch") == {"resize": "stretch"}
    assert resize_record("letterbox") == {"resize": "letterbox", "pad": LETTERBOX_PAD}


def _detector(tmp_path, resize: str):
    """An untrained squeezedet_small exported with a letterbox (or stretch) preprocessing, and its task dict."""
    from edgevision.deploy.detection import export_detector
    from edgevision.models import build_model
    from edgevision.tasks.detection import DetectionTask

    torch.manual_seed(0)
    model = build_model("squeezedet_small", num_classes=2, num_anchors=3).eval()
    task = {**DetectionTask(["a", "b"], [[8, 8], [16, 24], [24, 16]], [64, 64]).to_dict(), "score_threshold": 0.0}
    pre = {"input_size": [64, 64], "channels": 3, "mean": [0.5] * 3, "std": [0.25] * 3, **resize_record(resize),
           "color": "RGB", "scale": 1 / 255}
    path, _ = export_detector(model, tmp_path / f"det_{resize}.onnx", task, pre, "numpy", dynamic_batch=False)
    return model, task, pre, path


def test_onnx_sidecar_reproduces_the_letterboxed_boxes(tmp_path):
    """The ONNX file plus its sidecar letterboxes like predict and maps boxes back like the task's decode."""
    from edgevision.apps.predict import preprocess_array
    from edgevision.deploy.detector_runtime import OnnxDetector
    from edgevision.tasks import build_task

    model, task, pre, path = _detector(tmp_path, "letterbox")
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (40, 96, 3), dtype=np.uint8), rng.integers(0, 255, (90, 50, 3), dtype=np.uint8)]
    det = OnnxDetector(path, score_threshold=0.0)
    assert det.resize == "letterbox"
    x = det.preprocess(images)
    assert np.allclose(x, preprocess_array(images, pre), atol=1e-5)
    assert np.allclose(x[0, :, 0, 0], (LETTERBOX_PAD / 255 - 0.5) / 0.25, atol=1e-5)  # the top rows are padding
    with torch.no_grad():
        ref = build_task(task).decode(model(torch.from_numpy(x)), image_sizes=[im.shape[:2] for im in images],
                                      score_threshold=0.0, resize="letterbox")
    for ours, r, im in zip(det(images), ref, images):
        top = np.asarray([d["box"] for d in r["detections"][:10]])
        assert np.allclose(ours["boxes"][:10], top, atol=0.05)
        assert (ours["boxes"][:, [0, 2]] <= im.shape[1]).all() and (ours["boxes"][:, [1, 3]] <= im.shape[0]).all()


def test_task_decode_undoes_the_letterbox():
    """A box the network places in input pixels comes back through the inverse letterbox (scale, then offset)."""
    from edgevision.tasks.detection import DetectionTask

    task = DetectionTask(["a"], [[16, 16]], [32, 32], score_threshold=0.0, top_n=1)
    raw = np.zeros((1, 6, 4, 4), np.float32)  # one anchor: 4 deltas, 1 confidence, 1 class
    raw[0, 4, 1, 2] = 10.0  # the cell (row 1, col 2) is confident: its box is the anchor at the cell centre
    inp = task.decode(raw)[0]["detections"][0]["box"]
    hw = (16, 64)  # wide: letterboxed to 8×32 at top 12
    got = task.decode(raw, image_sizes=[hw], resize="letterbox")[0]["detections"][0]["box"]
    assert np.allclose(got, fit(hw, (32, 32), "letterbox").to_image(np.array([inp]))[0], atol=0.01)
    stretched = task.decode(raw, image_sizes=[hw])[0]["detections"][0]["box"]
    assert np.allclose(stretched, np.array(inp) * [2, 0.5, 2, 0.5], atol=0.01)


@pytest.mark.parametrize("fmt", ["voc", "coco", "yolo"])
@pytest.mark.parametrize("in_memory", [True, False])
def test_detection_sources_letterbox_images_and_boxes(tmp_path, fmt, in_memory):
    """The white rectangle of each 100×50 fixture image lies inside its letterboxed box (in memory or lazy)."""
    import test_detection_data as fx
    from edgevision.data import DataConfig, load_data

    root = {"voc": fx.make_voc, "coco": fx.make_coco, "yolo": fx.make_yolo}[fmt](tmp_path / fmt)
    cfg = DataConfig(source=f"{fmt}:{root}", input_size=64, resize="letterbox", val_fraction=0, test_fraction=0,
                     options={"in_memory": in_memory})
    splits = load_data(cfg, "detection")
    assert splits.resize == "letterbox"
    n_on = 0
    for i in range(len(splits.train)):
        s = splits.train[i]
        img = s["image"].permute(1, 2, 0).numpy()
        assert img.shape == (64, 64, 3) and (img[:16] == LETTERBOX_PAD).all()  # 100×50 → 64×32 at top 16
        for x1, y1, x2, y2 in s["boxes"].tolist():
            assert 16 <= y1 < y2 <= 48 and 0 <= x1 < x2 <= 64
            n_on += int(img[round(y1) + 1:round(y2) - 1, round(x1) + 1:round(x2) - 1].min() > 200)
    assert n_on >= len(splits.train) - 1  # the white rectangle's box, on every image with labels


def test_letterbox_is_refused_by_sources_that_only_stretch():
    from edgevision.data import DataConfig, load_data
    from edgevision.errors import ConfigError

    with pytest.raises(ConfigError, match="letterbox"):
        load_data(DataConfig(source="synthetic:shapes", input_size=32, resize="letterbox"), "classification")


def test_predict_and_demo_pipeline_map_letterboxed_boxes_back(tmp_path):
    """A letterboxed artifact: predict_images and the demo's detection pipeline give the same boxes, in the frame's
    pixels, as the task's decode of the letterboxed input."""
    from edgevision.apps.engines import make_engine
    from edgevision.apps.pipelines import PIPELINES
    from edgevision.apps.predict import predict_images, preprocess_array
    from edgevision.artifacts import load_artifact, save_model
    from edgevision.tasks import build_task

    model, task, pre, _ = _detector(tmp_path, "letterbox")
    art = load_artifact(save_model(tmp_path / "model.pt", model, task=task, preprocess=pre))
    frame = np.random.default_rng(1).integers(0, 255, (48, 120, 3), dtype=np.uint8)
    with torch.no_grad():
        ref = build_task(task).decode(model(torch.from_numpy(preprocess_array([frame], pre))),
                                      image_sizes=[frame.shape[:2]], resize="letterbox")[0]
    pipe = PIPELINES.get("detection")(art, make_engine(art, "torch"))
    shown = pipe.postprocess(pipe.infer(pipe.preprocess(frame)), frame)
    got = predict_images(art, [frame])[0]
    for pred in (shown, got):
        assert np.allclose([d["box"] for d in pred["detections"][:10]], [d["box"] for d in ref["detections"][:10]],
                           atol=0.05)
    assert all(d["box"][3] <= 48 and d["box"][2] <= 120 for d in got["detections"])


def test_pennfudan_segmentation_refuses_letterbox():
    """Segmentation maps its label map back by stretching, so a letterboxed segmentation source is refused."""
    from conftest import require_data
    from edgevision.data import DataConfig, load_data
    from edgevision.errors import ConfigError

    require_data("penn_fudan_ped")
    with pytest.raises(ConfigError, match="letterbox is for the detection formats"):
        load_data(DataConfig(source="pennfudan", input_size=64, resize="letterbox"), "segmentation")
