"""Penn-Fudan reader and its fixed split (the split test needs the real data)."""

import numpy as np
import pytest

from conftest import require_data
from edgevision.data import DataConfig, load_data
from edgevision.data.pennfudan import fixed_split, parse_annotation, read_pennfudan
from edgevision.errors import DataError

ANN = """Image size (X x Y x C) : 559 x 536 x 3
Bounding box for object 1 "PASpersonWalking" (Xmin, Ymin) - (Xmax, Ymax) : (160, 182) - (302, 431)
Bounding box for object 2 "PASpersonWalking" (Xmin, Ymin) - (Xmax, Ymax) : (420, 171) - (535, 486)
"""


def test_parse_annotation_converts_to_pixel_edges():
    b = parse_annotation(ANN, "x.txt")
    assert b.tolist() == [[159, 181, 302, 431], [419, 170, 535, 486]]
    with pytest.raises(DataError, match=r"bad\.txt: no 'Bounding box"):
        parse_annotation("Image size : 1 x 1 x 3\n", "bad.txt")


def test_fixed_split_is_disjoint_and_order_free():
    stems = [f"S{i:05d}" for i in range(170)]
    a, b = fixed_split(stems), fixed_split(list(reversed(stems)))
    assert a == b and (len(a["test"]), len(a["val"]), len(a["train"])) == (50, 20, 100)
    assert not set(a["test"]) & set(a["train"]) and not set(a["val"]) & set(a["train"])


@pytest.mark.data
def test_real_pennfudan_boxes_match_masks():
    require_data("penn_fudan_ped")
    recs = read_pennfudan()
    assert len(recs) == 170 and sum(len(r.boxes) for r in recs) == 423
    for r in recs[:20]:
        assert len(r.boxes) == len(np.unique(r.mask)) - 1
    s = load_data(DataConfig(source="pennfudan", input_size=128), "detection")
    assert (len(s.train), len(s.val), len(s.test)) == (100, 20, 50)
    assert s.train[0]["image"].shape == (3, 128, 128) and s.train[0]["boxes"].max() <= 128
