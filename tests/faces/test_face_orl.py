"""The ORL source on the real data (marked ``data``)."""

from __future__ import annotations

import pytest
import torch

from conftest import require_data
from edgevision.data import DataConfig, load_data
from edgevision.errors import DataError
from edgevision.faces.orl import parse_subjects

pytestmark = pytest.mark.data


def test_orl_splits_per_identity():
    require_data("orl_faces")
    s = load_data(DataConfig(source="orl", input_size=32, options={"subjects": "31-40", "train_per_id": 3,
                                                                   "val_per_id": 2}), "face")
    assert s.num_classes == 10 and s.class_names[0] == "s31"
    assert (len(s.train), len(s.val), len(s.test)) == (30, 20, 50)
    assert s.train.images.shape[1:] == (1, 32, 32) and s.train.images.dtype == torch.uint8
    assert torch.bincount(s.test.targets["label"]).tolist() == [5] * 10
    default = load_data(DataConfig(source="orl", input_size=32), "face")
    assert default.info["val_is_train"] and len(default.test) == 200


def test_orl_haar_crops_report_images_without_a_face():
    require_data("orl_faces")
    s = load_data(DataConfig(source="orl", input_size=32, options={"subjects": "1-3", "crop": "haar"}), "face")
    assert len(s.train) + len(s.test) == 30  # every image is kept, found or not
    assert 0 <= s.info["no_face"] <= 30 and len(s.info["no_face_files"]) == s.info["no_face"]
    assert all(f.startswith("s") and f.endswith(".pgm") for f in s.info["no_face_files"])


def test_bad_orl_options():
    with pytest.raises(DataError, match="outside"):
        parse_subjects("0-50")
    with pytest.raises(DataError, match="not a number"):
        parse_subjects("a-b")
    require_data("orl_faces")
    with pytest.raises(DataError, match="no test image"):
        load_data(DataConfig(source="orl", options={"train_per_id": 8, "val_per_id": 2}), "face")
