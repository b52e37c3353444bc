"""The lfw source: View 1 people lists (disjoint), per-person validation images, View 2 pairs, one-line errors."""

from __future__ import annotations

import pytest

from conftest import require_data
from edgevision.data import DataConfig, load_data
from edgevision.errors import ConfigError, DataError
from edgevision.faces.lfw import LfwOptions, archive, held_out, read_pairs, select

pytestmark = pytest.mark.data


def test_lfw_splits_by_person():
    root = require_data("lfw_deepfunneled")
    s = load_data(DataConfig(source="lfw", input_size=32, options={"max_people": 6, "max_per_id": 3}), "face")
    assert s.num_classes == 6 and s.channels == 3 and s.train[0]["image"].shape == (3, 32, 32)
    assert len(s.val) == 6 and len(s.test) == 0  # every chosen person has ≥ 2 images: one validates
    assert set(s.train.targets["label"].tolist()) == set(s.val.targets["label"].tolist()) == set(range(6))
    arc = archive(str(root))
    train, test = set(arc.people("devtrain")), set(arc.people("devtest"))
    assert len(train) == 4038 and len(test) == 1711 and not train & test
    assert set(s.class_names) <= train
    s0 = load_data(DataConfig(source="lfw", input_size=32, options={"max_people": 6, "max_per_id": 3,
                                                                    "val_per_id": 0}), "face")
    assert s0.val is s0.train and len(s0.train) == len(s.train) + len(s.val) and s0.info["val_is_train"]


def test_held_out_people_never_reach_training():
    root = require_data("lfw_deepfunneled")
    arc, counts = archive(str(root)), archive(str(root)).counts()
    opts = LfwOptions(min_images=1, holdout_people=7)
    names = held_out(arc, opts)
    assert len(names) == 7 and all(counts[n] >= 4 for n in names) and set(names) <= set(arc.people("devtrain"))
    chosen = {n for n, _ in select(arc, opts)}
    assert not chosen & set(names) and len(chosen) == len(arc.people("devtrain")) - 7
    assert held_out(arc, LfwOptions()) == []
    with pytest.raises(DataError, match="holdout_people 5000 > the 430 people of devtrain with at least 4 images"):
        held_out(arc, LfwOptions(holdout_people=5000))


def test_view2_pairs():
    pairs = read_pairs(require_data("lfw_deepfunneled"))
    assert len(pairs) == 6000 and {f for f, _, _ in pairs} == set(range(10))
    assert all(a[0] == b[0] for _, a, b in pairs[:300]) and not any(a[0] == b[0] for _, a, b in pairs[300:600])


def test_bad_options_and_paths_are_one_line(tmp_path):
    require_data("lfw_deepfunneled")
    with pytest.raises(ConfigError, match=r"data\.options\.people"):
        load_data(DataConfig(source="lfw", options={"people": "everyone"}), "face")
    with pytest.raises(DataError, match=r"no <Name>/<Name>_NNNN\.jpg images"):
        load_data(DataConfig(source=f"lfw:{tmp_path}"), "face")
    with pytest.raises(DataError, match="identity labels only"):
        load_data(DataConfig(source="lfw"), "segmentation")
