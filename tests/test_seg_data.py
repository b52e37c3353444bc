"""Segmentation data: image + mask folders matched by stem and their errors, COCO128 and Penn-Fudan masks,
colour jitter, and the perspective warp keeping image and mask aligned."""

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from conftest import require_data
from edgevision.data import AugmentConfig, Augmenter, DataConfig, load_data
from edgevision.errors import DataError
from edgevision.tasks.overlay import palette


def _make(root, n=10, size=(24, 32), classes=3, split=None):
    d = root / split if split else root
    (d / "images").mkdir(parents=True)
    (d / "masks").mkdir(parents=True)
    rng = np.random.default_rng(len(str(root)) + n)
    for i in range(n):
        cv2.imwrite(str(d / "images" / f"s{i:02d}.jpg"), rng.integers(0, 255, (*size, 3), np.uint8))
        Image.fromarray(rng.integers(0, classes, size).astype(np.uint8)).save(d / "masks" / f"s{i:02d}.png")
    return d


def _load(root, **options):
    return load_data(DataConfig(source=f"masks:{root}", input_size=16, val_fraction=0.2, test_fraction=0.2,
                                options=options), "segmentation")


def test_mask_folder_pairs_and_classes(tmp_path):
    _make(tmp_path, n=10)
    (tmp_path / "classes.txt").write_text("background\ncat\ndog\n")
    s = _load(tmp_path)
    assert (len(s.train), len(s.val), len(s.test)) == (6, 2, 2) and s.class_names == ["background", "cat", "dog"]
    b = s.train[0]
    assert b["image"].shape == (3, 16, 16) and b["mask"].shape == (16, 16) and int(b["mask"].max()) <= 2
    assert s.info["task_kwargs"] == {"ignore_index": 255}


def test_split_folders_palette_masks_and_suffix(tmp_path):
    for sp, n in (("train", 4), ("val", 2), ("test", 3)):
        d = _make(tmp_path, n=n, split=sp)
        for p in (d / "masks").iterdir():  # palette PNG with a suffix: indices must survive
            im = Image.fromarray(np.asarray(Image.open(p))).convert("P")
            im.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759)
            p.unlink()
            im.save(d / "masks" / f"{p.stem}_mask.png")
    s = _load(tmp_path, mask_suffix="_mask", classes=["bg", "a", "b"])
    assert (len(s.train), len(s.val), len(s.test)) == (4, 2, 3)
    assert set(np.unique(s.train.targets["mask"].numpy())) <= {0, 1, 2}


@pytest.mark.parametrize("problem,match", [
    ("size", r"s03\.png: mask is 32x20 but its image is 32x24"),
    ("colour", r"s03\.png: expected a single-channel label mask .* RGB colour image"),
    ("float", r"s03\.tiff: wrong mask dtype \(mode F\)"),
    ("jpeg", r"s03\.jpg: masks must be lossless"),
    ("range", r"s03\.png: label value 7 out of range; expected 0\.\.2 \(3 classes\) or 255"),
    ("missing", r"s03\.jpg: no mask .*s03\.\*"),
])
def test_bad_masks_are_one_line_errors_naming_the_file(tmp_path, problem, match):
    d = _make(tmp_path)
    (tmp_path / "classes.txt").write_text("0 background\n1 cat\n2 dog\n")
    m = d / "masks" / "s03.png"
    if problem == "size":
        Image.fromarray(np.zeros((20, 32), np.uint8)).save(m)
    elif problem == "colour":
        Image.fromarray(np.dstack([np.zeros((24, 32), np.uint8), np.ones((24, 32), np.uint8) * 9,
                                   np.zeros((24, 32), np.uint8)])).save(m)
    elif problem == "float":
        m.unlink()
        Image.fromarray(np.zeros((24, 32), np.float32)).save(d / "masks" / "s03.tiff")
    elif problem == "jpeg":
        m.unlink()
        cv2.imwrite(str(d / "masks" / "s03.jpg"), np.zeros((24, 32), np.uint8))
    elif problem == "range":
        a = np.zeros((24, 32), np.uint8)
        a[5, 5] = 7
        a[6, 6] = 255  # ignore label: allowed
        Image.fromarray(a).save(m)
    else:
        m.unlink()
    with pytest.raises(DataError, match=match) as e:
        _load(tmp_path)
    assert "\n" not in str(e.value)


def test_unmatched_can_be_skipped(tmp_path):
    d = _make(tmp_path)
    (d / "masks" / "s03.png").unlink()
    (d / "masks" / "extra.png").write_bytes((d / "masks" / "s04.png").read_bytes())
    s = _load(tmp_path, unmatched="skip")
    assert len(s.train) + len(s.val) + len(s.test) == 9


def test_colour_jitter_is_seeded_and_keeps_grey_grey():
    x = torch.rand(4, 3, 8, 8)
    x[0] = x[0, :1]  # a grey image
    aug = Augmenter(AugmentConfig(color_jitter={"p": 1.0, "hue": 0.3, "saturation": 0.5}))
    a = aug({"image": x.clone()}, torch.Generator().manual_seed(3))["image"]
    b = aug({"image": x.clone()}, torch.Generator().manual_seed(3))["image"]
    assert torch.equal(a, b) and not torch.allclose(a, x)
    assert (a[0].max(0).values - a[0].min(0).values).max() < 1e-4  # hue/saturation leave grey pixels grey
    off = Augmenter(AugmentConfig(color_jitter={"p": 0.0}))({"image": x.clone()}, torch.Generator())["image"]
    assert torch.allclose(off, x)


def test_perspective_warp_keeps_image_and_mask_aligned():
    """Paint each class of a mask in its own colour, warp image and mask together, and compare."""
    rng = np.random.default_rng(0)
    masks = np.zeros((6, 64, 64), np.uint8)
    for k in range(6):
        for c in range(1, 4):
            x, y = rng.integers(4, 44, 2)
            masks[k, y:y + 16, x:x + 20] = c
    pal = palette(4).astype(np.float32) / 255
    pal[0] = (0.2, 0.6, 0.9)
    img = torch.from_numpy(pal[masks]).permute(0, 3, 1, 2).contiguous()
    cfg = AugmentConfig(perspective={"p": 1.0}, hflip=0.5, vflip=0.5)
    out = Augmenter(cfg)({"image": img, "mask": torch.from_numpy(masks)}, torch.Generator().manual_seed(1))
    wm, wi = out["mask"].numpy(), out["image"].permute(0, 2, 3, 1).numpy()
    assert not np.array_equal(wm, masks)  # it did move
    # away from class borders (where bilinear image sampling blends colours) the colour must be the mask's class
    k = np.ones((3, 3), np.uint8)
    inner = np.stack([cv2.erode((m == c).astype(np.uint8), k) for m in wm for c in range(4)]).reshape(6, 4, 64, 64)
    interior = inner.any(1)
    err = np.abs(wi - pal[wm]).max(-1)
    assert interior.mean() > 0.5 and (err[interior] < 0.02).mean() > 0.995


def test_synthetic_masks_move_with_rotation_too():
    s = load_data(DataConfig(source="synthetic:shapes", input_size=32,
                             options={"num_classes": 3, "n_train": 8, "n_val": 0, "n_test": 0}), "segmentation")
    batch = s.train.get_batch(torch.arange(8))
    batch["image"] = batch["image"].float() / 255
    out = Augmenter(AugmentConfig(rotate={"p": 1.0, "degrees": 30}))(batch, torch.Generator().manual_seed(0))
    assert out["mask"].dtype == torch.uint8 and set(out["mask"].unique().tolist()) <= {0, 1, 2, 3}


@pytest.mark.data
def test_coco128_semantic_person_and_all_classes():
    require_data("coco128")
    s = load_data(DataConfig(source="coco128_semantic", input_size=64, options={"classes": ["person"]}),
                  "segmentation")
    assert (len(s.train), len(s.val), len(s.test)) == (80, 10, 10) and s.class_names == ["background", "person"]
    assert set(s.train.targets["mask"].unique().tolist()) == {0, 1}
    a = load_data(DataConfig(source="coco128_semantic", input_size=64), "segmentation")
    assert len(a.class_names) == 129 and a.class_names[0] == "person"
    assert 255 in a.train.targets["mask"].unique().tolist()  # unlabeled pixels are ignored


@pytest.mark.data
def test_pennfudan_segmentation_masks():
    require_data("penn_fudan_ped")
    s = load_data(DataConfig(source="pennfudan", input_size=64), "segmentation")
    assert (len(s.train), len(s.val), len(s.test)) == (100, 20, 50) and s.class_names == ["background", "person"]
    m = s.test.targets["mask"]
    assert set(m.unique().tolist()) == {0, 1} and 0.05 < m.float().mean() < 0.4
