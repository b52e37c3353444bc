"""Offline teacher cache: keyed by sample id, reused across runs, invalidated by teacher or data changes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from kd_helpers import make_teacher_artifact

from conftest import tiny_data
from edgevision.compress.distill.cache import TeacherCache
from edgevision.compress.distill.teachers import build_teacher
from edgevision.data import DataConfig, load_data
from edgevision.errors import DataError


@pytest.fixture
def train_split():
    return load_data(DataConfig.model_validate(tiny_data(n_train=48)), "classification").train


def test_cache_built_then_reused_and_lookup_matches_teacher(tmp_path, train_split):
    teacher_artifact = make_teacher_artifact(tmp_path / "t.pt")
    teacher = build_teacher(str(teacher_artifact))
    first = TeacherCache.for_teacher(teacher, train_split, tmp_path / "cache")
    assert not first.reused and first.complete()
    meta = json.loads((first.path / "meta.json").read_text())
    assert meta["shape"] == [48, 4] and meta["data"] == train_split.fingerprint
    second = TeacherCache.for_teacher(build_teacher(str(teacher_artifact)), train_split, tmp_path / "cache")
    assert second.reused and second.path == first.path
    # plain .npy, memory-mapped, no pickle
    arr = np.load(first.path / "logits.npy", mmap_mode="r", allow_pickle=False)
    assert isinstance(arr, np.memmap) and arr.dtype == np.float32
    idx = torch.tensor([5, 0, 17])
    ids = train_split.ids[idx]
    with torch.no_grad():
        expected = teacher.logits(train_split.images[idx].float() / 255)
    assert torch.allclose(second.lookup(ids), expected, atol=1e-5)
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name.startswith(".")]  # no temp folders left


def test_cache_invalidated_by_teacher_bytes_and_by_data(tmp_path, train_split):
    a = make_teacher_artifact(tmp_path / "a.pt", seed=0)
    key_a = TeacherCache.for_teacher(build_teacher(str(a)), train_split, tmp_path / "c").path
    make_teacher_artifact(a, seed=1)  # retrained teacher, same path: new bytes → new entry
    retrained = TeacherCache.for_teacher(build_teacher(str(a)), train_split, tmp_path / "c")
    assert retrained.path != key_a and not retrained.reused
    other = load_data(DataConfig.model_validate(tiny_data(n_train=48, noise=3.0)), "classification").train
    changed = TeacherCache.for_teacher(build_teacher(str(a)), other, tmp_path / "c")
    assert changed.path not in (key_a, retrained.path) and not changed.reused
    subset = train_split.subset(np.arange(20))  # same fingerprint, fewer ids: must not reuse
    assert TeacherCache.for_teacher(build_teacher(str(a)), subset, tmp_path / "c").path != retrained.path


def test_missing_id_is_a_clear_error(tmp_path, train_split):
    teacher_artifact = make_teacher_artifact(tmp_path / "t.pt")
    cache = TeacherCache.for_teacher(build_teacher(str(teacher_artifact)), train_split, tmp_path / "c")
    with pytest.raises(DataError, match="sample id 99999 is not in the teacher cache"):
        cache.lookup(torch.tensor([int(train_split.ids[0]), 99999]))


def test_corrupt_entry_is_rebuilt(tmp_path, train_split):
    teacher_artifact = make_teacher_artifact(tmp_path / "t.pt")
    cache = TeacherCache.for_teacher(build_teacher(str(teacher_artifact)), train_split, tmp_path / "c")
    good = np.array(cache.logits)
    (cache.path / "logits.npy").write_bytes(b"not numpy")
    again = TeacherCache.for_teacher(build_teacher(str(teacher_artifact)), train_split, tmp_path / "c")
    assert not again.reused and np.allclose(np.array(again.logits), good)
    with pytest.raises(DataError, match="unreadable teacher cache"):
        (again.path / "ids.npy").write_bytes(b"junk")
        TeacherCache(again.path).open()
