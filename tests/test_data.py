"""Datasets, splits, loaders and augmentation."""

import gzip
import struct

import cv2
import numpy as np
import pytest
import torch

from conftest import tiny_data
from edgevision.data import AugmentConfig, Augmenter, BatchLoader, BatchTransform, DataConfig, load_data
from edgevision.data.augment import homography, warp_boxes
from edgevision.data.base import stratified_split
from edgevision.data.synthetic import ShapesGenerator
from edgevision.errors import ConfigError, DataError


def test_shapes_deterministic_and_order_independent():
    g = ShapesGenerator(num_classes=6, size=32, seed=3)
    a, b = g.sample(5), g.sample(5)
    g.sample(0)
    c = g.sample(5)
    assert np.array_equal(a["image"], b["image"]) and np.array_equal(a["image"], c["image"])
    assert not np.array_equal(g.sample(6)["image"], a["image"])
    assert ShapesGenerator(num_classes=6, size=32, seed=4).sample(5)["image"].tobytes() != a["image"].tobytes()


def test_shapes_targets_are_consistent():
    g = ShapesGenerator(num_classes=10, size=64, seed=1, max_objects=4)
    for i in range(30):
        s = g.sample(i)
        assert s["image"].shape == (64, 64, 3) and s["image"].dtype == np.uint8
        assert len(s["boxes"]) == len(s["labels"]) >= 0
        for (x1, y1, x2, y2), c in zip(s["boxes"].astype(int), s["labels"]):
            assert 0 <= x1 < x2 <= 64 and 0 <= y1 < y2 <= 64
            inside = s["mask"][y1:y2, x1:x2]
            assert (inside == c + 1).any()  # the box holds pixels of its class
        assert set(np.unique(s["mask"])) <= set(range(11))


def test_stratified_split_disjoint_and_balanced():
    labels = np.repeat(np.arange(4), 50)
    tr, va, te = stratified_split(labels, (0.1, 0.2), seed=0)
    assert len(set(tr) & set(va)) == len(set(tr) & set(te)) == len(set(va) & set(te)) == 0
    assert len(tr) + len(va) + len(te) == 200
    assert all((labels[va] == c).sum() == 5 for c in range(4))
    assert np.array_equal(stratified_split(labels, (0.1, 0.2), 0)[1], va)


def test_synthetic_source_and_options_validation():
    s = load_data(DataConfig(**tiny_data()))
    assert len(s.train) == 96 and s.num_classes == 4 and s.input_size == (24, 24) and len(s.mean) == 3
    with pytest.raises(ConfigError, match=r"data\.options\.n_trian: unknown key \(did you mean: n_train"):
        load_data(DataConfig(source="synthetic:shapes", options={"n_trian": 3}))


def _write_idx(path, arr):
    header = struct.pack(">BBBB", 0, 0, 8, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    path.write_bytes(gzip.compress(header + arr.astype(np.uint8).tobytes()))


def test_mnist_reader_on_tiny_fixture(tmp_path):
    rng = np.random.default_rng(0)
    for split, n in (("train", 40), ("t10k", 10)):
        _write_idx(tmp_path / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 255, (n, 28, 28)))
        _write_idx(tmp_path / f"{split}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    s = load_data(DataConfig(source=f"mnist:{tmp_path}", val_fraction=0.25))
    assert (len(s.train), len(s.val), len(s.test)) == (30, 10, 10)
    assert s.channels == 1 and s.train[0]["image"].shape == (1, 28, 28)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(b"garbage")
    with pytest.raises(DataError, match="t10k-labels"):
        load_data(DataConfig(source=f"mnist:{tmp_path}"))


def test_imagefolder_with_corrupt_file(tmp_path):
    rng = np.random.default_rng(0)
    for c in ("cat", "dog"):
        (tmp_path / c).mkdir()
        for i in range(10):
            cv2.imwrite(str(tmp_path / c / f"{i}.png"), rng.integers(0, 255, (20, 30, 3), dtype=np.uint8))
    (tmp_path / "dog" / "broken.jpg").write_bytes(b"not an image")
    s = load_data(DataConfig(source=str(tmp_path), input_size=16, val_fraction=0.2, test_fraction=0.2))
    assert s.class_names == ["cat", "dog"] and len(s.train) + len(s.val) + len(s.test) == 21
    loader = BatchLoader(s.train, 64, shuffle=False, transform=BatchTransform(s.mean, s.std))
    batches = list(loader)
    skipped = sum(b["skipped"] for b in batches)
    n_ok = sum(len(b["image"]) for b in batches if "image" in b)
    assert n_ok + skipped == len(s.train) and batches[0]["image"].shape[1:] == (3, 16, 16)


def test_imagefolder_empty_is_a_clear_error(tmp_path):
    (tmp_path / "a").mkdir()
    with pytest.raises(DataError, match="no images found"):
        load_data(DataConfig(source=str(tmp_path)))


def test_loader_rank_shards_are_disjoint_and_deterministic():
    s = load_data(DataConfig(**tiny_data(n_train=50)))
    t = BatchTransform(s.mean, s.std)
    ids = []
    for rank in (0, 1):
        loader = BatchLoader(s.train, 8, shuffle=True, transform=t, seed=1, rank=rank, world=2)
        loader.set_epoch(2)
        ids.append(torch.cat([b["id"] for b in loader]).tolist())
    assert len(ids[0]) == len(ids[1]) == 25 and not set(ids[0]) & set(ids[1])
    again = BatchLoader(s.train, 8, shuffle=True, transform=t, seed=1, rank=0, world=2)
    again.set_epoch(2)
    assert torch.cat([b["id"] for b in again]).tolist() == ids[0]


def _aug_batch(cfg, seed=0, max_objects=3):
    g = ShapesGenerator(num_classes=6, size=48, seed=0, max_objects=max_objects, occluders=0)
    samples = [g.sample(i) for i in range(8)]
    batch = {"image": torch.from_numpy(np.stack([s["image"] for s in samples])).permute(0, 3, 1, 2).float() / 255,
             "mask": torch.from_numpy(np.stack([s["mask"] for s in samples])).long(),
             "boxes": [torch.from_numpy(s["boxes"]) for s in samples],
             "labels": [torch.from_numpy(s["labels"]) for s in samples]}
    return Augmenter(AugmentConfig.model_validate(cfg))(batch, torch.Generator().manual_seed(seed))


def test_augment_is_deterministic_per_generator():
    cfg = {"hflip": 0.5, "rotate": {"p": 1, "degrees": 30}, "noise": {"p": 1}, "salt_pepper": {"p": 1}}
    a, b, c = _aug_batch(cfg, 1), _aug_batch(cfg, 1), _aug_batch(cfg, 2)
    assert torch.equal(a["image"], b["image"]) and not torch.equal(a["image"], c["image"])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_geometric_augment_keeps_mask_and_boxes_aligned(seed):
    """One shape per image: the warped shape must lie inside the hull of the warped box corners."""
    out = _aug_batch({"rotate": {"p": 1, "degrees": 40}, "crop": {"p": 1, "scale": [0.6, 0.9]},
                      "perspective": {"p": 1}, "hflip": 0.5, "vflip": 0.5}, seed, max_objects=1)
    checked = 0
    for i in range(8):
        ys, xs = torch.nonzero(out["mask"][i] > 0, as_tuple=True)
        if len(xs) < 10 or len(out["boxes"][i]) != 1:
            continue
        x1, y1, x2, y2 = out["boxes"][i][0].tolist()
        assert xs.min() >= x1 - 1.5 and xs.max() + 1 <= x2 + 1.5 and ys.min() >= y1 - 1.5 and ys.max() + 1 <= y2 + 1.5
        shape_w, box_w = int(xs.max() - xs.min() + 1), x2 - x1
        assert shape_w >= 0.4 * box_w  # and the box is not absurdly larger than the shape
        checked += 1
    assert checked >= 4


def test_flip_maps_boxes_exactly():
    boxes = torch.tensor([[2.0, 3.0, 10.0, 7.0]])
    m = torch.tensor([[[-1.0, 0, 20], [0, 1, 0], [0, 0, 1]]], dtype=torch.float64)
    moved, keep = warp_boxes(boxes, m, 20, 20)
    assert keep.all() and torch.allclose(moved, torch.tensor([[10.0, 3.0, 18.0, 7.0]]))


def test_homography_maps_points():
    src = torch.tensor([[[1.0, 2.0], [9.0, 1.0], [10.0, 9.0], [0.0, 8.0]]], dtype=torch.float64)
    dst = torch.tensor([[[0.0, 0.0], [12.0, 0.0], [12.0, 12.0], [0.0, 12.0]]], dtype=torch.float64)
    h = homography(src, dst)[0].numpy()
    ref = cv2.getPerspectiveTransform(src[0].numpy().astype(np.float32), dst[0].numpy().astype(np.float32))
    assert np.allclose(h / h[2, 2], ref / ref[2, 2], atol=1e-6)


def test_photometric_ops_run_and_clip():
    out = _aug_batch({"blur": {"p": 1}, "contrast": {"p": 1}, "brightness": {"p": 1}, "noise": {"p": 1, "sigma": 80},
                      "salt_pepper": {"p": 1, "amount": 0.1}, "clahe": {"p": 1}})
    x = out["image"]
    assert x.min() >= 0 and x.max() <= 1 and torch.isfinite(x).all()


def test_augment_config_rejects_bad_values():
    with pytest.raises(Exception, match="degrees"):
        AugmentConfig.model_validate({"rotate": {"degrees": 400}})
