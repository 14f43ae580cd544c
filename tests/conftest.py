from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(
    os.environ.get("EMOVOX_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)


def shared_path(*parts: str) -> Path:
    """A path inside ../shared/data, or skip the test with a reason when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared test data not available: {path}")
    return path


@pytest.fixture
def ljspeech_mini() -> Path:
    return shared_path("ljspeech_mini")


@pytest.fixture
def ravdess_mini() -> Path:
    return shared_path("ravdess_mini")


@pytest.fixture
def cremad_mini() -> Path:
    return shared_path("cremad_mini")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Converted pretrained weights go to a per-session cache, never the user's home."""
    monkeypatch.setenv("EMOVOX_CACHE", str(tmp_path_factory.getbasetemp() / "emovox-cache"))


@pytest.fixture(autouse=True)
def _torch_threads_restored():
    """A test that sets torch's thread count (itself or through a command run in-process) leaves it as it
    found it: results that depend on how many threads share a sum must not depend on the tests run before."""
    import torch

    before = torch.get_num_threads()
    yield
    if torch.get_num_threads() != before:
        torch.set_num_threads(before)
