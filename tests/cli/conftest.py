"""Fixtures of the CLI tests: a shared read-only simulated host and in-process runners."""

from __future__ import annotations

import os

import pytest

from cli_helpers import Run
from xvirt.testing import sim_host


@pytest.fixture(scope="module")
def readhost():
    """A module-wide simulated host (20 running + 3 inactive) that the tests must not change."""
    with sim_host(20) as host:
        yield host


@pytest.fixture(scope="module")
def xv_read(readhost):
    return Run(readhost.uri)


@pytest.fixture
def xv(simhost):
    return Run(simhost.uri)


@pytest.fixture
def short_tmp(tmp_path_factory):
    """A short directory (unix socket paths must stay under 108 bytes)."""
    import shutil
    import tempfile
    path = tempfile.mkdtemp(prefix="xvc")
    yield path
    shutil.rmtree(path, ignore_errors=True)


os.environ.pop("XVIRT_DEFAULT_URI", None)  # tests pass -c explicitly
