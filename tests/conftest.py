"""Shared fixtures: the isolated simulated host and the test corpus kept in the repository."""

from pathlib import Path

import pytest

from xvirt.testing import simhost  # noqa: F401 - re-exported as a fixture

CORPUS = Path(__file__).resolve().parent / "data" / "corpus"


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """tests/data/corpus (xend-sexpr/, with provenance in each corpus's SOURCES.md)."""
    if not (CORPUS / "xend-sexpr").is_dir():
        pytest.fail(f"test corpus not found at {CORPUS}/xend-sexpr: the checkout is incomplete")
    return CORPUS
