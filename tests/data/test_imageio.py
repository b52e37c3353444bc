"""Image reading must not depend on the OpenCV build: when cv2 cannot decode a file, Pillow does."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from edgevision.data import imageio
from edgevision.data.imageio import IMAGE_EXTS, is_image_file, read_image
from edgevision.data.sources import DataConfig, load_data


def _picture() -> np.ndarray:
    img = np.zeros((12, 16, 3), np.uint8)
    img[:, :8] = (255, 0, 0)  # left half red, right half blue: the channel order shows
    img[:, 8:] = (0, 0, 255)
    return img


@pytest.fixture
def no_cv2_decode(monkeypatch):
    """An OpenCV build that decodes nothing (as 4.10 does with GIF): only the fallback can read."""
    monkeypatch.setattr(imageio.cv2, "imdecode", lambda *a, **k: None)


@pytest.mark.parametrize("ext", [".gif", ".webp", ".tif", ".bmp", ".png"])
def test_common_formats_are_listed_and_read_without_cv2(ext, tmp_path, no_cv2_decode):
    path = tmp_path / f"a{ext}"
    Image.fromarray(_picture()).save(path, lossless=True) if ext == ".webp" else Image.fromarray(_picture()).save(path)
    assert ext in IMAGE_EXTS and is_image_file(path)
    rgb = read_image(path, 3)
    assert rgb is not None and rgb.shape == (12, 16, 3) and rgb.dtype == np.uint8
    assert np.array_equal(rgb[0, 0], [255, 0, 0]) and np.array_equal(rgb[0, -1], [0, 0, 255])
    grey = read_image(path, 1)
    assert grey is not None and grey.shape == (12, 16, 1)


def test_a_gif_written_by_pillow_reads_the_same_with_and_without_cv2(tmp_path, monkeypatch):
    path = tmp_path / "a.gif"
    Image.fromarray(_picture()).save(path)
    with_cv2 = read_image(path, 3)
    monkeypatch.setattr(imageio.cv2, "imdecode", lambda *a, **k: None)
    assert np.array_equal(read_image(path, 3), with_cv2)


def test_corrupt_files_still_give_none(tmp_path, no_cv2_decode):
    bad = tmp_path / "bad.gif"
    bad.write_bytes(b"GIF89a\x00\x01garbage")
    assert read_image(bad) is None and read_image(tmp_path / "missing.png") is None


def test_imagefolder_of_gifs(tmp_path, no_cv2_decode):
    for c in ("cat", "dog"):
        (tmp_path / c).mkdir()
        for k in range(5):
            Image.fromarray(np.full((8, 8, 3), 40 * k, np.uint8)).save(tmp_path / c / f"{k}.gif")
    splits = load_data(DataConfig(source=str(tmp_path), input_size=8, val_fraction=0.2, test_fraction=0.2))
    assert len(splits.train) + len(splits.val) + len(splits.test) == 10 and splits.train[0] is not None
