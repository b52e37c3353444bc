"""Shared fixtures. Tests use tiny synthetic inputs; tests that need ../shared/datasets are marked `data`."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("EDGEVISION_PROGRESS", "0")  # no progress bars in test logs

from edgevision.data.paths import find_dataset


def tiny_data(n_train: int = 96, size: int = 24, classes: int = 4, **extra) -> dict:
    """A DataConfig dict for a few synthetic shapes (fast to generate and train on)."""
    return {"source": "synthetic:shapes", "input_size": size,
            "options": {"num_classes": classes, "n_train": n_train, "n_val": 32, "n_test": 32, **extra}}


@pytest.fixture
def tiny() -> dict:
    return tiny_data()


def require_data(name: str):
    """Skip unless the shared dataset ``name`` is present; returns its folder."""
    p = find_dataset(name)
    if p is None:
        pytest.skip(f"dataset {name!r} not found in $EDGEVISION_DATA or ../shared/datasets")
    return p


@pytest.fixture(autouse=True)
def _threads():
    """Keep torch to 2 threads so tests behave the same on the 2-core CI machine."""
    import torch

    prev = torch.get_num_threads()
    torch.set_num_threads(min(prev, 2))
    yield
    torch.set_num_threads(prev)


@pytest.fixture
def one_thread():
    """One torch thread: tiny models train fastest so, and a busy 2-core machine punishes two threads badly.

    Use with ``pytestmark = pytest.mark.usefixtures("one_thread")``.
    """
    import torch

    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(prev)


@pytest.fixture(scope="session")
def quickstart_run(tmp_path_factory):
    """The quickstart, run once per session by the slow tests that need it: (run folder, seconds)."""
    import time

    from edgevision.recipe import quickstart

    out = tmp_path_factory.mktemp("quickstart") / "qs"
    t0 = time.perf_counter()
    quickstart(out)
    return out, time.perf_counter() - t0


from speed_fixtures import exported, trained  # noqa: E402, F401  (session fixtures of the speed tests)
