"""Mosaic and mixup: boxes stay on their objects, nothing leaves the image, draws are seeded, switches by epoch."""

import pytest
import torch

from edgevision.config import validate
from edgevision.configs.data import AugmentConfig, MosaicOp
from edgevision.data import BatchTransform
from edgevision.data.augment import Augmenter
from edgevision.data.mosaic import canvas_to_output, mixup, mosaic, tile_offsets
from edgevision.errors import ConfigError
from edgevision.train.callbacks import Callback, extra_callbacks
from edgevision.train.stage import train


def _objects(b: int = 4, h: int = 32, w: int = 48) -> dict:
    """Black images, each with one white rectangle (its box) at a different place; a matching instance mask."""
    x = torch.zeros(b, 3, h, w)
    boxes, labels = [], []
    for i in range(b):
        x1, y1 = 2 + 3 * i, 4 + 2 * i
        x2, y2 = x1 + 10 + i, y1 + 12
        x[i, :, y1:y2, x1:x2] = 1.0
        boxes.append(torch.tensor([[x1, y1, x2, y2]], dtype=torch.float32))
        labels.append(torch.tensor([i]))
    return {"image": x, "boxes": boxes, "labels": labels, "mask": (x[:, 0] > 0.5).to(torch.uint8)}


def _aug(cfg: dict, batch: dict, seed: int) -> dict:
    return Augmenter(AugmentConfig.model_validate(cfg))(batch, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("seed", range(6))
def test_mosaic_boxes_stay_on_their_objects(seed):
    out = _aug({"mosaic": {"p": 1.0, "min_size": 0.5, "min_visible": 0.0}}, _objects(), seed)
    x, h, w = out["image"], 32, 48
    covered = torch.zeros(4, h, w, dtype=torch.bool)
    for i, (bx, lab) in enumerate(zip(out["boxes"], out["labels"])):
        assert len(bx) == len(lab)
        assert (bx[:, 0] >= 0).all() and (bx[:, 1] >= 0).all() and (bx[:, 2] <= w).all() and (bx[:, 3] <= h).all()
        assert ((bx[:, 2] - bx[:, 0]) >= 0.5).all() and ((bx[:, 3] - bx[:, 1]) >= 0.5).all()
        for x1, y1, x2, y2 in bx.tolist():  # the inside of every box is its white object
            inner = x[i, :, round(y1) + 1:round(y2) - 1, round(x1) + 1:round(x2) - 1]
            assert inner.numel() == 0 or inner.min() > 0.99
            covered[i, max(int(y1) - 1, 0):int(y2) + 2, max(int(x1) - 1, 0):int(x2) + 2] = True
    white = x[:, 0] > 0.99
    assert not (white & ~covered).any()  # every white pixel lies in a kept box (none dropped that is visible)
    assert ((out["mask"] == 1) == (x[:, 0] > 0.5)).float().mean() > 0.97  # the mask moved with the pixels


def test_mosaic_box_lands_where_the_matrix_says():
    """With s = 1 and no shift, M is a translation by (W/2 − W, H/2 − H): a box of tile k moves by offset_k + t."""
    b, h, w = 4, 32, 48
    op = MosaicOp(p=1.0, scale=0.0, translate=0.0, min_visible=0.0, min_size=1e-3)
    batch = _objects(b, h, w)
    src_boxes = [bx.clone() for bx in batch["boxes"]]
    out = mosaic(batch, op, torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)  # replay the draws: coin, 3 permutations, centre, affine
    torch.rand(b, generator=g)
    src = torch.stack([torch.arange(b)] + [torch.randperm(b, generator=g) for _ in range(3)], 1)
    centre = torch.stack([w / 2 + w * torch.rand(b, generator=g, dtype=torch.float64),
                          h / 2 + h * torch.rand(b, generator=g, dtype=torch.float64)], 1)
    m = canvas_to_output(b, h, w, op, g)
    assert torch.allclose(m[:, 0, 2], torch.full((b,), -w / 2, dtype=torch.float64))
    off = tile_offsets(centre, h, w)
    for i in range(b):
        expect = []
        for k in range(4):
            bx = src_boxes[src[i, k]][0].double() + off[i, k].repeat(2) - torch.tensor([w / 2, h / 2] * 2)
            clipped = torch.stack([bx[0].clamp(0, w), bx[1].clamp(0, h), bx[2].clamp(0, w), bx[3].clamp(0, h)])
            if clipped[2] - clipped[0] >= 1e-3 and clipped[3] - clipped[1] >= 1e-3:
                expect.append(clipped)
        got = out["boxes"][i].double()
        assert len(got) == len(expect)
        if expect:
            assert torch.allclose(got, torch.stack(expect).float().double(), atol=1e-4)


def test_mosaic_drops_boxes_mostly_cut_away():
    kept = _aug({"mosaic": {"p": 1.0, "min_visible": 0.0, "min_size": 0.5}}, _objects(), 1)
    strict = _aug({"mosaic": {"p": 1.0, "min_visible": 0.9, "min_size": 0.5}}, _objects(), 1)
    n_kept, n_strict = sum(map(len, kept["boxes"])), sum(map(len, strict["boxes"]))
    assert n_strict < n_kept


def test_mosaic_p0_and_no_targets_leave_the_batch_alone():
    batch = _objects()
    same = _aug({"mosaic": {"p": 0.0}}, {k: (v.clone() if torch.is_tensor(v) else list(v)) for k, v in batch.items()},
                0)
    assert torch.equal(same["image"], batch["image"])
    assert all(torch.equal(a, b) for a, b in zip(same["boxes"], batch["boxes"]))
    plain = {"image": batch["image"].clone(), "label": torch.zeros(4, dtype=torch.long)}
    assert torch.equal(_aug({"mosaic": {"p": 1.0}}, plain, 0)["image"], batch["image"])


def test_mosaic_and_mixup_are_seeded():
    cfg = {"mosaic": {"p": 1.0}, "mixup": {"p": 1.0}, "hflip": 0.5}
    a, b = _aug(cfg, _objects(), 7), _aug(cfg, _objects(), 7)
    assert torch.equal(a["image"], b["image"])
    assert all(torch.equal(x, y) for x, y in zip(a["boxes"], b["boxes"]))
    assert not torch.equal(a["image"], _aug(cfg, _objects(), 8)["image"])


def test_mixup_blends_two_images_and_keeps_both_box_sets():
    batch = _objects()
    x0, boxes0 = batch["image"].clone(), [bx.clone() for bx in batch["boxes"]]
    out = mixup(batch, AugmentConfig.model_validate({"mixup": {"p": 1.0}}).mixup, torch.Generator().manual_seed(0))
    for i in range(4):
        assert len(out["boxes"][i]) == 2 and len(out["labels"][i]) == 2
        j = int(out["labels"][i][1])  # labels are the image indices, so the partner is known
        assert j != i and torch.equal(out["boxes"][i][1], boxes0[j][0])
        diff = out["image"][i] - x0[j]
        nz = (x0[i] - x0[j]).abs() > 0.5
        lam = (diff[nz] / (x0[i] - x0[j])[nz]).mean()
        assert 0.25 < lam < 0.75  # Beta(32, 32) keeps λ near ½
        assert torch.allclose(out["image"][i], lam * x0[i] + (1 - lam) * x0[j], atol=1e-5)


def test_close_mosaic_switches_at_the_right_epoch_and_on_resume():
    cfg = AugmentConfig.model_validate({"mosaic": {"p": 1.0}, "close_mosaic": 2})
    t = BatchTransform([0.0] * 3, [1.0] * 3, cfg, epochs=5)
    on = []
    for epoch in range(5):
        t.set_epoch(epoch)
        on.append(t.augmenter.mixing)
    assert on == [True, True, True, False, False]
    resumed = BatchTransform([0.0] * 3, [1.0] * 3, cfg, epochs=5)
    resumed.set_epoch(3)  # a run resumed at epoch 4 starts without mosaic
    assert not resumed.augmenter.mixing
    batch = _objects()
    out = resumed({k: (v.clone() * 255 if k == "image" else v) for k, v in batch.items()}, torch.Generator())
    assert torch.allclose(out["image"], batch["image"])  # mosaic off: unchanged


def test_mosaic_options_are_checked():
    with pytest.raises(ConfigError, match="scale"):
        validate(AugmentConfig, {"mosaic": {"scale": 1.5}}, "augment")
    with pytest.raises(ConfigError, match="close_mosaic"):
        validate(AugmentConfig, {"close_mosaic": -1}, "augment")


def test_mosaic_and_mixup_with_negative_images():
    """Images without boxes (negatives) mix in like the others; no box appears from nowhere."""
    batch = _objects()
    batch["boxes"][1] = torch.zeros((0, 4))
    batch["labels"][1] = torch.zeros(0, dtype=torch.long)
    batch["image"][1] = 0
    out = _aug({"mosaic": {"p": 1.0}, "mixup": {"p": 1.0}}, batch, 2)
    assert all(len(b) == len(lab) for b, lab in zip(out["boxes"], out["labels"]))
    assert all(1 not in lab.tolist() for lab in out["labels"])
    empty = {"image": torch.zeros(2, 3, 16, 16), "boxes": [torch.zeros((0, 4))] * 2,
             "labels": [torch.zeros(0, dtype=torch.long)] * 2}
    out = _aug({"mosaic": {"p": 1.0}, "mixup": {"p": 1.0}}, empty, 0)
    assert [len(b) for b in out["boxes"]] == [0, 0]


class _Watch(Callback):
    """Records, after each epoch, whether mosaic was on in it."""

    def __init__(self):
        self.seen: dict[int, bool] = {}

    def on_epoch_end(self, trainer, epoch, record):
        self.seen[epoch] = trainer.train_loader.transform.augmenter.mixing


def test_close_mosaic_in_a_training_run_and_its_resume(tmp_path):
    data = {"source": "synthetic:shapes", "input_size": 32, "options": {"n_train": 16, "n_val": 4, "n_test": 4,
                                                                        "max_objects": 2}}
    opts = {"model": "squeezedet_small", "task": "detection", "data": data, "batch_size": 8, "threads": 1,
            "optimizer": "adamw", "lr": 0.003, "grad_clip": 10.0,
            "task_options": {"anchors": 3}, "augment": {"mosaic": {"p": 1.0}, "close_mosaic": 1}}
    whole, first, second = _Watch(), _Watch(), _Watch()
    with extra_callbacks(whole):
        train(out=tmp_path / "whole", epochs=4, **opts)
    assert whole.seen == {0: True, 1: True, 2: True, 3: False}
    with extra_callbacks(first):
        train(out=tmp_path / "run", epochs=2, **opts)
    with extra_callbacks(second):
        train(out=tmp_path / "run", epochs=4, resume=True, **opts)  # the finished run continues to 4 epochs
    assert first.seen == {0: True, 1: False} and second.seen == {2: True, 3: False}
