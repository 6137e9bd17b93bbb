"""Shared fixtures: the isolated simulated host and the shared corpus location."""

from pathlib import Path

import pytest

from xvirt.testing import simhost  # noqa: F401 - re-exported as a fixture

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    path = SHARED / "corpus"
    if not path.is_dir():
        pytest.fail(f"shared corpus not found at {path}: CI must have shared/ beside the checkout")
    return path
